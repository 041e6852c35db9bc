/**
 * Entry of the static export bundle (`fmwidget/static/export.js`): reads the data embedded in
 * the page, makes a StaticModel and renders the real widget with it into `#fmw-host`.
 */
import type { AnyModel, Experimental, Host } from "@anywidget/types";
import type { Traits } from "../types";
import widget from "../widget";
import { BlobReader, readManifest } from "./manifest";
import { StaticModel } from "./model";

declare global {
  interface Window {
    __fmwStatic?: StaticModel;
  }
}

async function main(): Promise<void> {
  const host = document.getElementById("fmw-host");
  if (!host) throw new Error("fmwidget export: the page has no #fmw-host element");
  try {
    const model = new StaticModel(readManifest(document), BlobReader.fromDocument(document));
    window.__fmwStatic = model;
    const def = widget();
    const signal = new AbortController().signal;
    const experimental = {
      invoke: () => Promise.reject(new Error("static export: no kernel")),
    } as unknown as Experimental;
    const m: AnyModel<Traits> = model;
    await def.initialize({ model: m, signal, experimental });
    await def.render({ model: m, el: host, signal, experimental, host: {} as Host });
  } catch (err) {
    const p = document.createElement("pre");
    p.className = "fmw-error";
    p.textContent = `fmwidget export failed to start: ${err instanceof Error ? err.message : String(err)}`;
    host.replaceChildren(p);
    throw err;
  }
}

void main();

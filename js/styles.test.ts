// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { injectStyles } from "./styles";

const styles = (root: Document | ShadowRoot) => root.querySelectorAll("style#fmw-style").length;

afterEach(() => {
  document.head.replaceChildren();
  document.body.replaceChildren();
});

describe("injectStyles", () => {
  it("styles the document of an attached element, once", () => {
    const el = document.createElement("div");
    document.body.append(el);
    expect(injectStyles(el)).toBe(true);
    expect(injectStyles(el)).toBe(true);
    expect(styles(document)).toBe(1);
    expect(document.head.querySelector("style#fmw-style")?.textContent).toContain(".fmw-root");
  });

  it("styles the shadow root an element lives in (marimo), not the document", () => {
    const host = document.createElement("div");
    document.body.append(host);
    const shadow = host.attachShadow({ mode: "open" });
    const el = document.createElement("div");
    shadow.append(el);
    expect(injectStyles(el)).toBe(true);
    injectStyles(el);
    expect(styles(shadow)).toBe(1);
    expect(styles(document)).toBe(0);
    // a second shadow root gets its own copy
    const other = document.createElement("div");
    document.body.append(other);
    const shadow2 = other.attachShadow({ mode: "open" });
    const el2 = document.createElement("div");
    shadow2.append(el2);
    injectStyles(el2);
    expect(styles(shadow2)).toBe(1);
  });

  it("styles the document for a detached element and says its tree is not known yet", () => {
    const el = document.createElement("div");
    expect(injectStyles(el)).toBe(false);
    expect(styles(document)).toBe(1);
  });
});

/**
 * anywidget glue for fmwidget. Only wiring: the Store (one per model) is created in
 * `initialize` and shared by all views; each `render` builds an App on that store.
 *
 * The default export is a factory (anywidget calls it once per model, so the store lives in
 * its closure) that also carries plain `initialize`/`render` properties for harnesses that
 * use `default.initialize(...)` / `default.render(...)` directly with the same model object.
 */
import type { AnyModel, Initialize, Render } from "@anywidget/types";
import { App } from "./app";
import { Store } from "./model/store";
import { styleWhenAttached } from "./styles";
import type { Traits } from "./types";

interface WidgetDef {
  initialize: Initialize<Traits>;
  render: Render<Traits>;
}

function createWidget(): WidgetDef {
  let store: Store | null = null;
  const ensure = (model: AnyModel<Traits>): Store => {
    if (!store) store = new Store(model);
    return store;
  };
  return {
    initialize({ model }) {
      const s = ensure(model);
      return () => {
        s.dispose();
        if (store === s) store = null;
      };
    },
    render({ model, el }) {
      const app = new App(model, ensure(model));
      el.replaceChildren(app.root);
      const stopStyling = styleWhenAttached(el);
      return () => {
        stopStyling();
        app.dispose();
      };
    },
  };
}

const perModel = new WeakMap<object, WidgetDef>();
function defFor(model: object): WidgetDef {
  let def = perModel.get(model);
  if (!def) {
    def = createWidget();
    perModel.set(model, def);
  }
  return def;
}

const widget = Object.assign(() => createWidget(), {
  initialize: ((props) => defFor(props.model).initialize(props)) as Initialize<Traits>,
  render: ((props) => defFor(props.model).render(props)) as Render<Traits>,
});

export default widget;

// A fake anywidget model for the browser test harness (served by tests/browser/conftest.py).
//
// It mimics what anywidget hands to `initialize`/`render`: get/set/on/off/save_changes/send.
// - `set` from the widget records the change (`sets`) and fires `change:<key>` like Backbone.
// - `kernelSet` is the test playing the kernel: it changes a trait and fires `change:<key>`.
// - `send` records every message (`sent`); when the page exposes `__fmwPySend` (a Python
//   responder), its answers `[{content, buffers: [base64...]}, ...]` are delivered
//   asynchronously as `msg:custom` events with DataView buffers, as the widget manager does.
// - `reply(content, buffers)` delivers a custom message by hand.

function b64ToDataView(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DataView(bytes.buffer);
}

function bufferToB64(b) {
  const bytes = ArrayBuffer.isView(b)
    ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    : new Uint8Array(b);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

export class FakeModel {
  constructor(state) {
    this.state = structuredClone(state ?? {});
    this.handlers = new Map();
    this.sent = [];
    this.sentBuffers = [];
    this.sets = [];
    this.saves = 0;
    this.replies = 0;
  }

  get(key) {
    return this.state[key];
  }

  set(key, value) {
    this.state[key] = value;
    this.sets.push({ key, value: structuredClone(value) });
    this._emit(`change:${key}`, this, value);
  }

  kernelSet(key, value) {
    this.state[key] = value;
    this._emit(`change:${key}`, this, value);
    this._emit("change", this);
  }

  on(names, cb) {
    for (const name of String(names).split(/\s+/).filter(Boolean)) {
      if (!this.handlers.has(name)) this.handlers.set(name, new Set());
      this.handlers.get(name).add(cb);
    }
  }

  off(names, cb) {
    if (!names) {
      this.handlers.clear();
      return;
    }
    for (const name of String(names).split(/\s+/).filter(Boolean)) {
      if (!cb) this.handlers.delete(name);
      else this.handlers.get(name)?.delete(cb);
    }
  }

  listenerCount(name) {
    return this.handlers.get(name)?.size ?? 0;
  }

  save_changes() {
    this.saves++;
  }

  send(content, _callbacks, buffers) {
    this.sent.push(structuredClone(content));
    // binary buffers (the drawn input's pixels) as base64, by message index
    const b64s = (buffers ?? []).map(bufferToB64);
    this.sentBuffers.push(b64s);
    const respond = window.__fmwPySend;
    if (typeof respond !== "function") return;
    respond(content, b64s.length, b64s).then(
      (answers) => {
        for (const a of answers ?? []) {
          const state = a.content.__state__; // trait changes the kernel made (set_input)
          if (state) for (const [k, v] of Object.entries(state)) this.kernelSet(k, v);
          else this.reply(a.content, a.buffers.map(b64ToDataView));
        }
      },
      (err) => {
        window.__fmwResponderErrors = (window.__fmwResponderErrors ?? 0) + 1;
        console.error("fmw harness responder failed", err);
      },
    );
  }

  reply(content, buffers) {
    this.replies++;
    this._emit("msg:custom", content, buffers ?? []);
  }

  _emit(name, ...args) {
    for (const cb of [...(this.handlers.get(name) ?? [])]) cb(...args);
  }
}

// Loads the bundle, then runs initialize + render like anywidget does. Resolves when render
// returned (the view may still be waiting for data). `early`: custom messages
// ({content, buffers: [base64...]}) delivered between initialize and render, as the kernel's
// messages sent right after the widget was made arrive before its view is shown.
export async function mount(bundleUrl, state, early) {
  const mod = await import(bundleUrl);
  const widget = mod.default ?? mod;
  const model = new FakeModel(state);
  const el = document.getElementById("host");
  window.__fmwModel = model;
  const init = typeof widget === "function" ? await widget() : widget;
  const cleanupInit = init.initialize ? await init.initialize({ model }) : undefined;
  for (const m of early ?? []) model.reply(m.content, m.buffers.map(b64ToDataView));
  const cleanupRender = init.render ? await init.render({ model, el }) : undefined;
  window.__fmwCleanup = async () => {
    if (typeof cleanupRender === "function") await cleanupRender();
    if (typeof cleanupInit === "function") await cleanupInit();
  };
  return true;
}

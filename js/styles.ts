/** The widget's CSS, injected once per document (all classes carry the fmw- prefix). */

import { COMPARE_CSS } from "./views/compare";
import { STEPPER_CSS } from "./views/stepper-parts";

/** Visible height of the grid pane (CSS max-height; the grid layout fills it). */
export const GRID_PANE_HEIGHT = 440;

const CSS = `
.fmw-root{--fmw-fg:#1f2328;--fmw-muted:#656d76;--fmw-bg:#fff;--fmw-panel:#f6f8fa;--fmw-border:#d0d7de;--fmw-accent:#0969da;--fmw-sel:#ff8c00;
  font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fmw-fg);background:var(--fmw-bg);display:flex;flex-direction:column;gap:6px;padding:6px;box-sizing:border-box;max-width:100%}
.fmw-root *{box-sizing:border-box}
.fmw-root [hidden]{display:none!important}
.fmw-title{margin:0;font-size:14px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}
.fmw-bar{display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.fmw-tabs{display:inline-flex;border:1px solid var(--fmw-border);border-radius:4px;overflow:hidden;flex:0 0 auto}
.fmw-tab{font:inherit;font-size:12px;border:0;background:var(--fmw-bg);color:inherit;padding:2px 10px;cursor:pointer}
.fmw-tab+.fmw-tab{border-left:1px solid var(--fmw-border)}
.fmw-tab[aria-pressed=true]{background:var(--fmw-accent);color:#fff}
.fmw-tab:focus-visible,.fmw-ov-col:focus-visible{outline:2px solid var(--fmw-accent);outline-offset:1px}
.fmw-gridview{display:flex;flex-direction:column;gap:6px}
.fmw-ov-panel{display:flex;flex-direction:column;gap:4px}
.fmw-ov-bar{display:flex;gap:8px 14px;align-items:center;flex-wrap:wrap;font-size:12px}
.fmw-ov-legend{flex:0 0 auto;width:224px}
.fmw-ov-key{color:var(--fmw-muted);display:flex;align-items:center;gap:3px;flex-wrap:wrap}
.fmw-ov-swatch{display:inline-block;width:14px;height:10px;border-radius:2px}
.fmw-overview{border:1px solid var(--fmw-border);border-radius:4px;background:#fff}
.fmw-ov-scroll{overflow-x:auto;overflow-y:hidden;position:relative}
.fmw-ov-content{position:relative;height:100%;min-width:100%}
.fmw-ov-stage{position:sticky;left:0;top:0;height:100%;line-height:0}
.fmw-ov-stage canvas{position:absolute;left:0;top:0}
.fmw-ov-links{pointer-events:none}
.fmw-ov-col{position:absolute;display:flex;flex-direction:column;align-items:center;justify-content:space-between;padding:0 0 1px;margin:0;border:0;border-radius:4px;background:transparent;font:inherit;color:inherit;cursor:pointer;text-align:center;z-index:1}
.fmw-ov-col:hover{background:rgba(9,105,218,0.06)}
.fmw-ov-name{font-weight:600;font-size:11px;line-height:13px;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fmw-ov-kind{color:var(--fmw-muted);font-size:10px;line-height:12px;margin-bottom:auto;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.fmw-ov-shape{font-family:ui-monospace,monospace;font-size:10px;line-height:12px;white-space:nowrap}
.fmw-ov-readout{font-family:ui-monospace,monospace;font-size:12px;min-height:3em;white-space:pre-wrap;overflow-wrap:anywhere}
.fmw-error{color:#cf222e;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
.fmw-error:empty{display:none}
.fmw-strip{display:flex;gap:4px;overflow-x:auto;padding:2px;border:1px solid var(--fmw-border);border-radius:4px;background:var(--fmw-panel)}
.fmw-layer{flex:0 0 auto;display:flex;flex-direction:column;align-items:flex-start;text-align:left;border:1px solid var(--fmw-border);border-radius:3px;background:var(--fmw-bg);padding:2px 6px;cursor:pointer;font:inherit;font-size:11px;color:inherit;max-width:220px}
.fmw-layer[aria-selected=true]{border-color:var(--fmw-accent);box-shadow:inset 0 0 0 1px var(--fmw-accent)}
.fmw-layer:focus-visible,.fmw-pane:focus-visible{outline:2px solid var(--fmw-accent);outline-offset:1px}
.fmw-layer-name{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:100%}
.fmw-layer-prefix{color:var(--fmw-muted);font-weight:400}
.fmw-layer-meta{color:var(--fmw-muted);white-space:nowrap}
.fmw-layer.fmw-trace-link{background:#fff8c5}
.fmw-main{display:flex;gap:8px;align-items:flex-start;flex-wrap:wrap}
.fmw-main>.fmw-trace{flex:1 1 340px;max-width:520px;max-height:${GRID_PANE_HEIGHT + 120}px;overflow:auto;align-self:stretch}
.fmw-side{display:flex;flex-direction:column;align-items:flex-start;gap:6px;width:240px;flex:0 0 auto}
.fmw-stack{position:relative;display:inline-block;line-height:0}
.fmw-stack canvas{image-rendering:pixelated}
.fmw-overlay{position:absolute;left:0;top:0;pointer-events:none}
.fmw-input{width:224px;height:auto;background:#000}
.fmw-readout{font-family:ui-monospace,monospace;font-size:12px;min-height:3em;white-space:pre-wrap;word-break:break-all}
.fmw-legend,.fmw-ov-legend{display:flex;flex-direction:column;gap:2px;font-size:11px}
.fmw-legend canvas,.fmw-ov-legend canvas{width:224px;height:12px;image-rendering:pixelated;border:1px solid var(--fmw-border)}
.fmw-legend-ticks{display:flex;justify-content:space-between;width:224px;font-family:ui-monospace,monospace;min-height:1.35em}
.fmw-ov-legend>span{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:224px}
.fmw-center{flex:1 1 320px;min-width:0;display:flex;flex-direction:column;gap:4px}
.fmw-controls{display:flex;gap:10px;flex-wrap:wrap;align-items:center;font-size:12px}
.fmw-controls label{display:inline-flex;gap:4px;align-items:center}
.fmw-slices{display:flex;gap:8px;align-items:center;font-size:12px;margin:4px 0}
.fmw-slices[hidden]{display:none}
.fmw-slice{width:200px}
.fmw-slice-field{flex:1 1 0;min-width:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.fmw-slice-index{font-variant-numeric:tabular-nums;white-space:nowrap}
.fmw-gridwrap{max-height:${GRID_PANE_HEIGHT}px;overflow:auto;border:1px solid var(--fmw-border);background:#6e7781}
.fmw-grid{display:block;cursor:crosshair}
.fmw-detail{display:flex;gap:8px;flex-wrap:wrap}
.fmw-detail:empty{display:none}
.fmw-detail-item{display:flex;flex-direction:column;gap:2px;font-size:11px}
.fmw-detail-item canvas{cursor:crosshair}
.fmw-trace{border:1px solid var(--fmw-border);border-radius:4px;padding:4px 6px;background:var(--fmw-panel);font-size:12px}
.fmw-trace:empty::before{content:"Click a cell of a map to trace it: its convolution, activation and pooling, step by step.";color:var(--fmw-muted)}
.fmw-trace-steps{display:flex;gap:6px;flex-wrap:wrap;align-items:flex-start}
.fmw-trace-step{display:flex;flex-direction:column;gap:2px;background:var(--fmw-bg);border:1px solid var(--fmw-border);border-radius:3px;padding:3px 5px;max-width:220px}
.fmw-trace-arrow{align-self:center;color:var(--fmw-muted)}
.fmw-trace-map{align-self:flex-start;image-rendering:pixelated;max-width:100%}
.fmw-trace-scale{display:flex;flex-direction:column;gap:1px;font-size:10px;color:var(--fmw-muted)}
.fmw-trace-scale canvas{width:100%;height:6px;image-rendering:pixelated;border:1px solid var(--fmw-border)}
.fmw-trace-scale .fmw-legend-ticks{width:100%}
.fmw-trace-name{font-weight:600;word-break:break-all}
.fmw-trace-note{margin:2px 0 4px;padding:2px 6px;border-left:3px solid #7cff4f;overflow-wrap:anywhere}
.fmw-trace-clicked{color:var(--fmw-fg);font-size:11px;border-bottom:2px dashed #7cff4f;align-self:flex-start}
.fmw-num{font-family:ui-monospace,monospace}
.fmw-conv table{border-collapse:collapse;font-family:ui-monospace,monospace;font-size:11px}
.fmw-conv td{padding:0 3px;text-align:right}
.fmw-conv th{padding:0 6px;text-align:right;font-weight:400;color:var(--fmw-muted);white-space:nowrap}
.fmw-conv{overflow-wrap:anywhere}
.fmw-conv td:first-child{max-width:9em;overflow-wrap:anywhere}
.fmw-conv tr.fmw-total td{border-top:1px solid var(--fmw-fg);font-weight:600}
.fmw-muted{color:var(--fmw-muted)}
.fmw-conv-how{display:flex;gap:4px;align-items:center}
.fmw-numgrid{border-collapse:collapse;font-size:10px}
.fmw-numgrid td{border:1px solid var(--fmw-border);padding:0 3px;text-align:right;background:var(--fmw-bg);white-space:nowrap}
.fmw-conv td.fmw-num{white-space:nowrap}
.fmw-kernel td{background:#eef6ff}
.fmw-op{font-weight:600}
.fmw-draw{display:flex;flex-direction:column;gap:2px;max-width:224px}
.fmw-draw-bar{display:flex;gap:3px;flex-wrap:wrap;align-items:center}
.fmw-draw-bar button,.fmw-draw-bar select{font:inherit;font-size:11px;padding:1px 5px}
.fmw-draw-bar button[aria-pressed="true"]{background:#1f6feb;color:#fff;border-color:#1f6feb}
.fmw-draw-msg:empty{display:none}
.fmw-stack[data-pen="draw"],.fmw-stack[data-pen="erase"]{cursor:crosshair;touch-action:none}
.fmw-heat{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;image-rendering:pixelated}
.fmw-explain{display:flex;flex-direction:column;gap:3px;width:224px;font-size:12px}
.fmw-explain-bar{display:flex;gap:6px;align-items:center;flex-wrap:wrap}
.fmw-explain-bar select{font:inherit;font-size:12px;max-width:224px}
.fmw-class-pick{display:inline-flex;gap:4px;align-items:center;color:var(--fmw-muted)}
.fmw-class-index{width:5.5em;font:inherit;font-size:12px}
.fmw-explain-info{overflow-wrap:anywhere}
.fmw-explain-info:empty{display:none}
.fmw-explain-legend canvas{width:224px;height:10px;image-rendering:pixelated;border:1px solid var(--fmw-border)}
.fmw-main>.fmw-card{flex:1 1 100%}
.fmw-card{border:1px solid var(--fmw-border);border-radius:4px;padding:4px 6px;background:var(--fmw-panel);display:flex;flex-direction:column;gap:4px;font-size:12px}
.fmw-card-head{overflow-wrap:anywhere}
.fmw-card-row{display:flex;gap:10px;align-items:flex-start;flex-wrap:wrap}
.fmw-card-examples{display:flex;flex-direction:column;gap:2px;flex:0 1 auto;min-width:0}
.fmw-card-strip{display:flex;gap:6px;flex-wrap:wrap;align-items:flex-end}
.fmw-card-tile{margin:0;display:flex;flex-direction:column;align-items:center;gap:1px;font-size:11px}
.fmw-card-tile canvas{image-rendering:pixelated;outline:1px solid var(--fmw-sel);outline-offset:0;background:#000}
.fmw-card-this canvas{outline-color:var(--fmw-border)}
.fmw-card-note,.fmw-card-hint{margin:0;font-size:11px}
.fmw-card-vis{display:flex;flex-direction:column;gap:4px;align-items:flex-start;max-width:270px}
.fmw-card-vis-btn{font:inherit;font-size:12px}
.fmw-card-vis-fig figcaption{max-width:260px;text-align:center}
`;

const STYLE_ID = "fmw-style";

/**
 * Adds the stylesheet once to the tree that shows `el`: the shadow root it lives in (marimo
 * renders every widget inside one, where a stylesheet in `document.head` does not apply), or
 * its document. Returns false while `el` is detached and its tree cannot be known yet.
 */
export function injectStyles(el: Element): boolean {
  const root = el.getRootNode();
  const doc = el.ownerDocument;
  const shadow = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot;
  if (!shadow && root !== doc) {
    // not attached yet (Jupyter attaches after render): the document is the likely host
    addStyle(doc, doc.head ?? doc.documentElement);
    return false;
  }
  addStyle(doc, shadow ? (root as ShadowRoot) : (doc.head ?? doc.documentElement));
  return true;
}

function addStyle(doc: Document, parent: Element | ShadowRoot): void {
  if (parent.querySelector(`style#${STYLE_ID}`)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS + STEPPER_CSS + COMPARE_CSS;
  parent.append(style);
}

/**
 * Styles `el`'s tree now, or, when `el` is still detached, once it is first laid out (a
 * ResizeObserver fires when it gets a size, i.e. after the host attached it). Returns a stop.
 */
export function styleWhenAttached(el: Element): () => void {
  if (injectStyles(el) || typeof ResizeObserver === "undefined") return () => {};
  const ro = new ResizeObserver(() => {
    if (injectStyles(el)) ro.disconnect();
  });
  ro.observe(el);
  return () => ro.disconnect();
}

/**
 * The wire contract between fmwidget's Python side and the browser.
 * Everything here arrives from the kernel: treat strings as hostile text.
 */

export type LayerKind =
  | "input"
  | "conv"
  | "depthwise_conv"
  | "separable_conv"
  | "conv_transpose"
  | "pooling"
  | "global_pooling"
  | "activation"
  | "batch_norm"
  | "other";

/**
 * Per-layer receptive-field tables: output row r sees input-image rows [rows[r][0], rows[r][1])
 * and column c sees columns [cols[c][0], cols[c][1]) (exact bounding box, clipped; an empty
 * interval means the cell reads no pixel). 1D maps have one row.
 */
export interface LayerGeometry {
  rows: [number, number][];
  cols: [number, number][];
  /** 3-D maps: the input depth slices each depth slice reads. */
  depth?: [number, number][];
}

export interface LayerSpec {
  index: number;
  name: string;
  kind: LayerKind | string;
  class_name: string;
  shape: number[];
  spatial: boolean;
  /**
   * Spatial axes of the layer's maps: 1 (time series: drawn as strips under a line plot of
   * the input), 2 (images), 3 (volumes, video); 0 for vectors. Absent: 2 when `spatial`.
   */
  rank?: number;
  /** Depth slices of a 3-D layer's maps (each `height` × `width`); 1 otherwise. */
  depth?: number;
  height: number | null;
  width: number | null;
  channels: number | null;
  signed: boolean;
  inputs: number[];
  fused_activation: string | null;
  /**
   * Receptive-field tables (null when a layer of unknown geometry is on the path). Only in
   * the static export's layers: the kernel sends them with each layer's `layer_data` (read
   * both through Store.geometry).
   */
  receptive_field?: LayerGeometry | null;
  /** A raw tensor operation between layers (`a + b`), not a layer. */
  is_op?: boolean;
  /**
   * How each input maps onto this layer (see fmwidget/overview.py `layer_links`; parsed by
   * js/overview/links.ts): null for unknown geometry.
   */
  links?: { size: [number, number] | null; inputs: unknown[] } | null;
  /** Finite value range of the layer (for the "global" colour range). */
  min?: number;
  max?: number;
}

export interface Cell {
  layer: string;
  filter: number;
  row: number;
  col: number;
  /** 3-D maps only: the cell's depth slice. */
  depth?: number;
}

export interface Hover extends Cell {
  value: number;
}

export type RangeMode = "map" | "layer" | "global";

/** Progress of the kernel while it computes (`status` trait): null when idle. */
export interface Status {
  phase: "forward" | "layers" | string;
  done: number;
  total: number;
}

/** Synced traits. */
export interface Traits {
  model_name: string;
  data_version: number;
  layers: LayerSpec[];
  layer: string;
  selected_filters: number[];
  hover: Hover | null;
  trace_target: Cell | null;
  colormap_range: RangeMode;
  /** "overview" (the whole network, default) or "grid" (one layer's maps). */
  view?: "overview" | "grid" | "compare";
  error: string;
  status?: Status | null;
  [key: string]: unknown;
}

export interface FilterStats {
  min: number[];
  max: number[];
  mean: number[];
  zero_fraction: number[];
  /** Count of NaN/±Inf cells (the kernel may name it nan_count or nonfinite_count). */
  nan_count?: number[];
  nonfinite_count?: number[];
}

export interface LayerDataMsg {
  type: "layer_data";
  request_id: number;
  layer: string;
  pre_activation: boolean;
  version: number;
  height: number;
  width: number;
  channels: number;
  /**
   * Depth slices of a 3-D layer (default 1): `height` is one slice's; the buffer holds the
   * slices stacked along the rows, and part row ranges count over `depth` × `height` rows.
   */
  depth?: number;
  /**
   * "float16_nonzero": the buffer is a nonzero mask (one bit per value, padded to 8 bytes)
   * followed by the `nonzero` float16 values that are not +0.0 (see model/decode.ts).
   */
  encoding: "float16" | "float16_nonzero" | "float32";
  /** With "float16_nonzero": how many values follow the mask. */
  nonzero?: number;
  /** Order of the buffer: "chw" (channel-major, default) or "hwc" (Keras channels_last). */
  layout?: "chw" | "hwc";
  /** Optional factor: true value = decoded value × scale (one per layer, or one per channel). */
  scale?: number | number[] | null;
  /** Optional: computed in the browser from the values when absent. */
  stats?: FilterStats;
  /** Layer's finite min/max (also accepted as `min` / `max`); computed when absent. */
  layer_min?: number;
  layer_max?: number;
  min?: number;
  max?: number;
  /** Optional: min/max over every layer of this input, for the "global" range. */
  global_min?: number;
  global_max?: number;
  /** The layer's receptive-field tables (null: unknown geometry); see Store.geometry. */
  receptive_field?: LayerGeometry | null;
  /**
   * Optional, for layers over 64 MiB: this message is part `chunk` of `chunks` and its buffer
   * holds channels [channel_start, channel_stop) and rows [row_start, row_stop) (all rows when
   * absent) only, in `layout`; `channels` and `height` are the layer's.
   */
  chunk?: number;
  chunks?: number;
  channel_start?: number;
  channel_stop?: number;
  row_start?: number;
  row_stop?: number;
}

/** A decoded layer: values channel-major (C, H, W). */
export interface LayerData {
  layer: string;
  preActivation: boolean;
  version: number;
  /** Rows of each map: for a 3-D layer its `depth` slices stacked (depth × slice height). */
  height: number;
  width: number;
  channels: number;
  /** Depth slices of a 3-D layer (absent: 1); slice z is rows [z·h, (z+1)·h), h = height / depth. */
  depth?: number;
  /** A slice of a 3-D layer's maps (views/slices.ts `sliceOf`): its depth index. */
  slice?: number;
  values: Float32Array;
  stats: FilterStats;
  layerMin: number;
  layerMax: number;
  globalMin?: number;
  globalMax?: number;
  /**
   * Only while a layer sent in parts is still arriving: 1 for the channels whose values are
   * all in, 0 for the others (their values read 0 and must not be shown). Absent: complete.
   */
  ready?: Uint8Array;
}

export interface Window {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
  /** 3-D maps only: the depth slices [depth0, depth1). */
  depth0?: number;
  depth1?: number;
}

export interface TraceStep {
  layer: string;
  kind: string;
  filter: number;
  row: number;
  col: number;
  value: number;
  window?: Window;
  argmax?: { row: number; col: number; depth?: number };
  /** 3-D maps only: the cell's depth slice. */
  depth?: number;
  /** Optional: the step shows the pre-activation map of a fused conv. */
  pre_activation?: boolean;
  /** Optional: name of the activation function of an activation step ("relu"). */
  activation?: string;
  /** Optional: this step's own receptive field in the input image. */
  receptive_field?: Window;
}

export interface ConvArithmetic {
  layer: string;
  filter?: number;
  bias: number;
  total: number;
  terms: {
    channel: number;
    contribution: number;
    /** Optional: the input window of this channel and the kernel slice (rows × cols). */
    window?: number[][];
    kernel?: number[][];
  }[];
  /** Optional: sum of the contributions not listed in `terms`. */
  others?: number;
  /** Optional: number of input channels in the sum. */
  n_channels?: number;
  /** Optional: the input layer the terms read. */
  source?: string;
  /** Optional: input row / column under each kernel tap (−1: padding). */
  taps?: { rows: number[]; cols: number[] };
  /** Optional: first tap (row, col) of this cell's window, negative in the padding (null: none). */
  origin?: [number | null, number | null];
  strides?: [number, number];
  dilation?: [number, number];
  /** Optional: the output map's rows and columns. */
  output?: [number, number];
}

export interface TraceMsg {
  type: "trace";
  request_id?: number | null;
  version: number;
  /** Optional: the traced layer (the target's). */
  layer?: string;
  steps: TraceStep[];
  /** The clicked cell's receptive field (the chain's cells may differ, see `note`). */
  receptive_field: Window;
  conv?: ConvArithmetic | null;
  /** Optional: the cell asked for, with its value; the chain may show the max-pool winner. */
  clicked?: Hover;
  /** Optional: words about the chain, e.g. that it follows the winner, not the clicked cell. */
  note?: string | null;
}

export interface ErrorMsg {
  type: "error";
  request_id?: number | null;
  message: string;
}

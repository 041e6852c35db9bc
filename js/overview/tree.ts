/**
 * Blocks of a network for the overview: consecutive layers whose names share a prefix
 * (`conv4_block12_…`, a nested model's `outer/…`) form a group, recursively; a collapsed group
 * is one column (its last layer's maps, the block's output). Which groups start expanded is
 * chosen so the overview starts with at most `MAX_COLUMNS` columns. Pure.
 */
import type { LayerSpec } from "../types";

/** Columns the overview starts with, at most (groups are expanded while they fit). */
export const MAX_COLUMNS = 40;
/** Groups of fewer layers are shown flat (a conv, its batch-norm and its ReLU are no block). */
export const MIN_GROUP = 4;

export interface Group {
  /** Unique: the shared name prefix and the first layer's index. */
  id: string;
  /** The shared name prefix ("conv4_block12"). */
  label: string;
  children: TreeNode[];
  /** Index of the first and the last layer in it (the last is the block's output). */
  first: number;
  last: number;
  /** Number of layers in it, at any depth. */
  layers: number;
}

export type TreeNode = { layer: number } | { group: Group };

/** Name split after each "/" and "_" ("conv2_block1_0_bn" → conv2_, block1_, 0_, bn). */
export function nameTokens(name: string): string[] {
  return name.match(/[^/_]+[/_]*|[/_]+/g) ?? [name];
}

function prefixOf(tokens: string[], n: number): string {
  return tokens
    .slice(0, n)
    .join("")
    .replace(/[/_]+$/, "");
}

/** The block tree of `specs` (entry 0, the input, always stands alone). */
export function buildTree(specs: readonly LayerSpec[]): TreeNode[] {
  const tokens = specs.map((s) => nameTokens(String(s.name)));
  const all = specs.map((_, i) => i);
  const [first, ...rest] = all;
  const nodes = group(rest, 0, tokens);
  return first === undefined ? nodes : [{ layer: first }, ...nodes];
}

function group(items: number[], depth: number, tokens: string[][]): TreeNode[] {
  const out: TreeNode[] = [];
  let i = 0;
  const keyOf = (k: number): string | null => {
    const t = tokens[k] as string[];
    return t.length > depth + 1 ? prefixOf(t, depth + 1) : null;
  };
  while (i < items.length) {
    const first = items[i] as number;
    const key = keyOf(first);
    let j = i + 1;
    while (key !== null && j < items.length && keyOf(items[j] as number) === key) j++;
    const run = items.slice(i, j);
    i = j;
    if (key === null || run.length < MIN_GROUP) {
      for (const k of run) out.push({ layer: k }); // too small for a block: layers stand alone
      continue;
    }
    let children = group(run, depth + 1, tokens);
    // a group holding one group is that group
    while (children.length === 1 && "group" in (children[0] as TreeNode)) {
      children = (children[0] as { group: Group }).group.children;
    }
    out.push({
      group: {
        id: `${key}@${first}`,
        label: key,
        children,
        first,
        last: run[run.length - 1] as number,
        layers: run.length,
      },
    });
  }
  return out;
}

/** One column of the overview: a layer, or a collapsed group showing its last layer. */
export type Column =
  | { layer: number; group?: undefined; depth: number }
  | { layer: number; group: Group; depth: number };

/** An expanded group's span of columns (drawn as a bracket over them). */
export interface Span {
  group: Group;
  from: number;
  to: number;
  depth: number;
}

/** The columns for a set of expanded group ids, and the brackets of the expanded groups. */
export function columns(
  tree: readonly TreeNode[],
  expanded: ReadonlySet<string>,
): { columns: Column[]; spans: Span[] } {
  const cols: Column[] = [];
  const spans: Span[] = [];
  const walk = (nodes: readonly TreeNode[], depth: number) => {
    for (const n of nodes) {
      if ("layer" in n) {
        cols.push({ layer: n.layer, depth });
      } else if (expanded.has(n.group.id)) {
        const from = cols.length;
        walk(n.group.children, depth + 1);
        spans.push({ group: n.group, from, to: cols.length - 1, depth });
      } else {
        cols.push({ layer: n.group.last, group: n.group, depth });
      }
    }
  };
  walk(tree, 0);
  return { columns: cols, spans };
}

/**
 * The groups to start expanded: level by level (all the blocks of one depth at once, so the
 * network reads evenly), while the overview stays within `max` columns.
 */
export function initialExpanded(tree: readonly TreeNode[], max = MAX_COLUMNS): Set<string> {
  const expanded = new Set<string>();
  let count = tree.length;
  let level = tree.filter((n): n is { group: Group } => "group" in n).map((n) => n.group);
  while (level.length) {
    const after = count + level.reduce((a, g) => a + g.children.length - 1, 0);
    if (after > max) break;
    count = after;
    for (const g of level) expanded.add(g.id);
    level = level.flatMap((g) =>
      g.children.filter((c): c is { group: Group } => "group" in c).map((c) => c.group),
    );
  }
  return expanded;
}

/** Every group, depth first (to find one by id, or the groups holding a layer). */
export function allGroups(tree: readonly TreeNode[]): Group[] {
  const out: Group[] = [];
  const walk = (nodes: readonly TreeNode[]) => {
    for (const n of nodes) {
      if ("group" in n) {
        out.push(n.group);
        walk(n.group.children);
      }
    }
  };
  walk(tree);
  return out;
}

import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import { allGroups, buildTree, columns, initialExpanded, MAX_COLUMNS, nameTokens } from "./tree";

function specs(names: string[]): LayerSpec[] {
  return names.map((name, index) => ({
    index,
    name,
    kind: "conv",
    class_name: "Conv2D",
    shape: [],
    spatial: true,
    height: 4,
    width: 4,
    channels: 4,
    signed: false,
    inputs: index ? [index - 1] : [],
    fused_activation: null,
  }));
}

/** DenseNet's naming: stages of dense blocks of 7 layers, transition layers between. */
function densenet(blocks: number[]): string[] {
  const names = ["input", "zero_padding2d", "conv1_conv", "conv1_bn", "conv1_relu", "pool1"];
  blocks.forEach((n, s) => {
    for (let b = 1; b <= n; b++) {
      for (const l of ["0_bn", "0_relu", "1_conv", "1_bn", "1_relu", "2_conv", "concat"]) {
        names.push(`conv${s + 2}_block${b}_${l}`);
      }
    }
    if (s < blocks.length - 1)
      for (const l of ["bn", "relu", "conv", "pool"]) names.push(`pool${s + 2}_${l}`);
  });
  return [...names, "bn", "relu", "avg_pool", "predictions"];
}

describe("nameTokens", () => {
  it("splits after / and _", () => {
    expect(nameTokens("conv2_block1_0_bn")).toEqual(["conv2_", "block1_", "0_", "bn"]);
    expect(nameTokens("outer/inner_conv")).toEqual(["outer/", "inner_", "conv"]);
    expect(nameTokens("x")).toEqual(["x"]);
  });
});

describe("buildTree", () => {
  it("groups DenseNet's stages and blocks; small runs stay flat", () => {
    const names = densenet([6, 12, 24, 16]);
    expect(names.length).toBe(6 + 58 * 7 + 3 * 4 + 4);
    const tree = buildTree(specs(names));
    const top = tree.map((n) => ("layer" in n ? names[n.layer] : `[${n.group.label}]`));
    // biome-ignore format: the names read better a few to a line
    expect(top).toEqual([
      "input", "zero_padding2d", "conv1_conv", "conv1_bn", "conv1_relu", "pool1",
      "[conv2]", "[pool2]", "[conv3]", "[pool3]", "[conv4]", "[pool4]", "[conv5]",
      "bn", "relu", "avg_pool", "predictions",
    ]);
    const conv2 = allGroups(tree).find((g) => g.label === "conv2");
    expect(conv2?.children.length).toBe(6);
    const block = allGroups(tree).find((g) => g.label === "conv2_block1");
    expect(block?.children.map((c) => ("layer" in c ? names[c.layer] : "group"))).toEqual([
      "conv2_block1_0_bn",
      "conv2_block1_0_relu",
      "conv2_block1_1_conv",
      "conv2_block1_1_bn",
      "conv2_block1_1_relu",
      "conv2_block1_2_conv",
      "conv2_block1_concat",
    ]);
    expect(block && names[block.last]).toBe("conv2_block1_concat"); // the block's output
    expect(block?.layers).toBe(7);
  });
  it("opens a whole level of blocks when it fits (ResNet's stages show their blocks)", () => {
    const names = ["input"];
    [3, 4, 6, 3].forEach((n, s) => {
      for (let b = 1; b <= n; b++) {
        for (const l of ["1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "add", "out"]) {
          names.push(`conv${s + 2}_block${b}_${l}`);
        }
      }
    });
    names.push("avg_pool", "predictions");
    const tree = buildTree(specs(names));
    const open = initialExpanded(tree);
    const { columns: cols, spans } = columns(tree, open);
    expect(cols.length).toBe(3 + 16); // every block a column
    expect(cols.filter((c) => c.group).length).toBe(16);
    expect(spans.map((s) => s.group.label)).toEqual(["conv2", "conv3", "conv4", "conv5"]);
    expect(cols[1]?.group?.label).toBe("conv2_block1");
    expect(names[cols[1]?.layer ?? 0]).toBe("conv2_block1_out");
  });
  it("leaves a small plain CNN flat", () => {
    const tree = buildTree(
      specs(["input", "conv1", "pool1", "conv2", "pool2", "flatten", "dense"]),
    );
    expect(tree.every((n) => "layer" in n)).toBe(true);
  });
  it("groups a nested model's path", () => {
    const inner = ["a", "b", "c", "d", "e"].map((x) => `encoder/${x}`);
    const tree = buildTree(specs(["input", ...inner, "head"]));
    expect(tree.length).toBe(3);
    const g = allGroups(tree)[0];
    expect(g?.label).toBe("encoder");
    expect(g?.children.length).toBe(5);
  });
});

describe("columns", () => {
  it("starts DenseNet201 within the column budget and expands a group in place", () => {
    const names = densenet([6, 12, 48, 32]);
    const tree = buildTree(specs(names));
    const open = initialExpanded(tree);
    const { columns: cols, spans } = columns(tree, open);
    expect(cols.length).toBeLessThanOrEqual(MAX_COLUMNS);
    expect(cols.length).toBe(17); // stem, 4 dense stages, 3 transitions, head: all in view
    // every layer is in exactly one column (itself, or the collapsed group holding it)
    const covered = new Set<number>();
    for (const c of cols) {
      const lo = c.group ? c.group.first : c.layer;
      for (let i = lo; i <= c.layer; i++) {
        expect(covered.has(i)).toBe(false);
        covered.add(i);
      }
    }
    expect(covered.size).toBe(names.length);
    const conv4 = allGroups(tree).find((g) => g.label === "conv4");
    expect(conv4 && open.has(conv4.id)).toBe(false); // 48 blocks do not fit at first
    const more = columns(tree, new Set([...open, conv4?.id ?? ""]));
    expect(more.columns.length).toBe(cols.length - 1 + 48);
    const span = more.spans.find((s) => s.group === conv4);
    expect(span && span.to - span.from + 1).toBe(48);
    expect(spans.every((s) => s.from <= s.to)).toBe(true);
  });
});

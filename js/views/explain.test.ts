import { describe, expect, it } from "vitest";
import type { LayerSpec } from "../types";
import { patchZoom } from "./card";
import { classCount, classError, className } from "./explain";

const spec = (shape: number[], spatial: boolean) => ({ shape, spatial }) as unknown as LayerSpec;

describe("classes", () => {
  it("counts the classes of a model that outputs a vector", () => {
    expect(classCount([spec([8, 8, 4], true), spec([10], false)])).toBe(10);
    expect(classCount([spec([8, 8, 4], true)])).toBeNull();
    expect(classCount([])).toBeNull();
  });

  it("says what a class index must be", () => {
    expect(classError(null, 10)).toBeNull();
    expect(classError(9, 10)).toBeNull();
    expect(classError(10, 10)).toBe(
      "Expected a class index an integer in 0…9 (the model scores 10 classes), received 10.",
    );
    expect(classError(-1, null)).toBe("Expected a class index an integer ≥ 0, received -1.");
    expect(classError(1.5, null)).not.toBeNull();
  });

  it("names a class from its label when there is one", () => {
    expect(className(2, ["a", "b", "emu"])).toBe("class 2 · emu");
    expect(className(5, ["a"])).toBe("class 5");
    expect(className(1, null)).toBe("class 1");
  });
});

describe("patchZoom", () => {
  it("is one integer zoom that fits the largest patch", () => {
    expect(patchZoom([8, 5])).toBe(9);
    expect(patchZoom([100])).toBe(1);
    expect(patchZoom([])).toBe(72);
  });
});

import { describe, expect, it } from "vitest";
import { predictionText } from "./draw";

describe("predictionText", () => {
  it("names the class from its label, else by index, with the output value", () => {
    const reply = { type: "input_set", prediction: { index: 7, label: "seven", score: 0.7812 } };
    expect(predictionText(reply)).toBe("the network says: seven (output 0.781)");
    expect(predictionText({ prediction: { index: 3, label: "", score: null } })).toBe(
      "the network says: class 3",
    );
  });

  it("says nothing when the model outputs no scores", () => {
    expect(predictionText({ prediction: null })).toBe("");
    expect(predictionText({})).toBe("");
  });
});

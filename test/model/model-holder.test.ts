import { describe, expect, it } from "vitest";
import { ModelHolder } from "../../src/model/model-holder.js";

class Fake {
  closed = 0;
  constructor(
    readonly name: string,
    private readonly fail = false,
  ) {}
  async close(): Promise<void> {
    this.closed++;
    if (this.fail) throw new Error(`${this.name} would not close`);
  }
}

describe("ModelHolder", () => {
  it("closes a replaced model at once when nothing borrows it, and resolves replace() then", async () => {
    const first = new Fake("first");
    const holder = new ModelHolder(first);
    await holder.replace(new Fake("second"));
    expect(first.closed).toBe(1);
    expect(holder.current.name).toBe("second");
    await holder.close();
    expect(holder.current.closed).toBe(1);
  });

  it("resolves replace() only after the last borrow of the replaced model", async () => {
    const first = new Fake("first");
    const holder = new ModelHolder(first);
    let finish!: () => void;
    const borrowed = holder.use(
      (model) => new Promise<string>((r) => (finish = () => r(model.name))),
    );
    let replaced = false;
    const replacing = holder.replace(new Fake("second")).then(() => (replaced = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect([replaced, first.closed]).toEqual([false, 0]);
    finish();
    expect(await borrowed).toBe("first");
    await replacing;
    expect(first.closed).toBe(1);
  });

  it("rejects replace() when the replaced model fails to close; a load after close() is closed", async () => {
    const holder = new ModelHolder(new Fake("first", true));
    await expect(holder.replace(new Fake("second"))).rejects.toThrow("first would not close");
    await holder.close();
    const late = new Fake("late");
    await holder.replace(late);
    expect(late.closed).toBe(1);
    expect(holder.current.name).toBe("second");
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, httpStatusOf, InferError } from "../../gateway/src/errors.js";

describe("InferError", () => {
  it("keeps an InferError as it is", () => {
    const e = new InferError(Code.NOT_FOUND, "no model");
    assert.equal(InferError.from(e), e);
  });
  it("keeps the code and details of a grpc-js style error", () => {
    const grpcError = Object.assign(new Error("14 UNAVAILABLE: down"), {
      code: 14,
      details: "down",
    });
    const e = InferError.from(grpcError);
    assert.equal(e.code, Code.UNAVAILABLE);
    assert.equal(e.message, "down");
    assert.equal(e.cause, grpcError);
  });
  it("turns anything else into INTERNAL with the cause kept", () => {
    const e = InferError.from(new TypeError("boom"));
    assert.equal(e.code, Code.INTERNAL);
    assert.ok(e.cause instanceof TypeError);
  });
});

describe("httpStatusOf", () => {
  const table: Array<[Code, number]> = [
    [Code.INVALID_ARGUMENT, 400],
    [Code.NOT_FOUND, 404],
    [Code.UNAVAILABLE, 503],
    [Code.UNIMPLEMENTED, 501],
    [Code.INTERNAL, 500],
    [Code.RESOURCE_EXHAUSTED, 429],
    [Code.ALREADY_EXISTS, 400],
    [Code.UNKNOWN, 400],
    [Code.CANCELLED, 400],
  ];
  for (const [code, status] of table) {
    it(`maps ${Code[code]} to ${status}`, () => assert.equal(httpStatusOf(code), status));
  }
});

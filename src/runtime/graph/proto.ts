/**
 * ONNX protobuf types (onnx-proto, protobufjs bindings of onnx.proto) and the small builders the graph
 * code needs: typed constants, attributes and a node list with fresh names.
 */
import onnxProto from "onnx-proto";

export const P = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.IModelProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;

/** TensorProto.DataType values used here. */
export const DT = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

/** The default ONNX operator domain, which a model may also spell "ai.onnx". */
export const isDefaultDomain = (domain: string | null | undefined): boolean =>
  !domain || domain === "ai.onnx";

/** An int64 proto field (protobufjs gives numbers or Long objects) as a number. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === "number" ? v : v.toNumber();
}

export class GraphError extends Error {
  override readonly name = "GraphError";
}

type Typed = Float32Array | Float64Array | Int32Array | Uint32Array | BigUint64Array | BigInt64Array;

/** A constant tensor; raw little-endian bytes keep every type exact (uint32 included). */
export function tensor(name: string, dataType: number, dims: readonly number[], values: Typed): TensorProto {
  // Typed arrays are little-endian on every platform Node runs on, as ONNX raw_data requires.
  return { name, dataType, dims: [...dims], rawData: new Uint8Array(values.slice().buffer) };
}

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: P.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: readonly number[]): AttributeProto => ({
    name,
    type: P.AttributeProto.AttributeType.INTS,
    ints: [...ints],
  }),
  string: (name: string, s: string): AttributeProto => ({
    name,
    type: P.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode(s),
  }),
  tensor: (name: string, t: TensorProto): AttributeProto => ({
    name,
    type: P.AttributeProto.AttributeType.TENSOR,
    t,
  }),
};

/** A tensor value of the graph's signature; dims are sizes or symbolic names. */
export function valueInfo(
  name: string,
  elemType: number,
  dims: readonly (number | string)[],
): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Nodes and initializers under construction. Fresh names start with `prefix`, which callers pick so
 * that it cannot collide with the names of composed models (see compose.ts).
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  #next = 0;

  constructor(readonly prefix: string) {}

  fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.#next++}`;
  }

  /** Appends a node and returns its output names. */
  ops(
    opType: string,
    inputs: readonly string[],
    outputs: number,
    attribute: AttributeProto[] = [],
  ): string[] {
    const output = Array.from({ length: outputs }, () => this.fresh(opType));
    this.nodes.push({ opType, input: [...inputs], output, attribute, name: this.fresh(`${opType}_node`) });
    return output;
  }

  op(opType: string, inputs: readonly string[], attribute: AttributeProto[] = []): string {
    return this.ops(opType, inputs, 1, attribute)[0] as string;
  }

  constant(hint: string, dataType: number, dims: readonly number[], values: Typed): string {
    const name = this.fresh(hint);
    this.initializers.push(tensor(name, dataType, dims, values));
    return name;
  }

  u32(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant("u32", DT.UINT32, dims, Uint32Array.from(values));
  }

  u64(values: readonly number[]): string {
    return this.constant("u64", DT.UINT64, [values.length], BigUint64Array.from(values, BigInt));
  }

  i64(values: readonly number[]): string {
    return this.constant("i64", DT.INT64, [values.length], BigInt64Array.from(values, BigInt));
  }

  /** A rank-0 int64, as Range wants. */
  i64Scalar(value: number): string {
    return this.constant("i64", DT.INT64, [], BigInt64Array.of(BigInt(value)));
  }

  /** A rank-0 int32. */
  i32Scalar(value: number): string {
    return this.constant("i32", DT.INT32, [], Int32Array.of(value));
  }

  f32(value: number): string {
    return this.constant("f32", DT.FLOAT, [], Float32Array.of(value));
  }

  f64(value: number): string {
    return this.constant("f64", DT.DOUBLE, [], Float64Array.of(value));
  }

  cast(input: string, to: number): string {
    return this.op("Cast", [input], [attr.int("to", to)]);
  }
}

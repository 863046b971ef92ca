/**
 * The deployment targets of `infergate repo build`: where the models run and, for GPUs, the
 * precision their TensorRT engines are built in and the container images that build and serve
 * them. An engine only runs on the TensorRT version (and GPU architecture) it was built with,
 * so the TensorRT image that builds it is the one inside the Triton image that serves it
 * (NGC release YY.MM ships both with the same TensorRT).
 */

/** A target name, as `--target` takes it. */
export const TARGET_NAMES = ["cpu", "t4", "p100"] as const;

/** A target name. */
export type TargetName = (typeof TARGET_NAMES)[number];

/** The GPU side of a target. */
export interface GpuTarget {
  /** Engine precision: INT8 needs a calibration cache; FP16 none. */
  precision: "INT8" | "FP16";
  /** trtexec precision flags. */
  trtexecFlags: string[];
  /** NGC release both images come from. */
  release: string;
  /** The TensorRT version of that release; calibration cache headers carry it. */
  tensorrtVersion: string;
  tensorrtImage: string;
  tritonImage: string;
  /** TensorRT engine instances per GPU. */
  instancesPerGpu: number;
  /** Why this precision and image, for the config comments and BUILD.txt. */
  note: string;
}

/** A target. */
export interface Target {
  name: TargetName;
  /** One line for progress output and BUILD.txt. */
  description: string;
  gpu?: GpuTarget;
}

function ngc(release: string, tensorrtVersion: string) {
  return {
    release,
    tensorrtVersion,
    tensorrtImage: `nvcr.io/nvidia/tensorrt:${release}-py3`,
    tritonImage: `nvcr.io/nvidia/tritonserver:${release}-py3`,
  };
}

/** Every target by name. */
export const TARGETS: Readonly<Record<TargetName, Target>> = {
  cpu: {
    name: "cpu",
    description: "ONNX Runtime on the CPU (the embedded model server or Triton without a GPU)",
  },
  t4: {
    name: "t4",
    description: "NVIDIA T4 (sm_75): TensorRT INT8 engines, 2 instances per GPU",
    gpu: {
      precision: "INT8",
      // FP16 as well, so that layers TensorRT cannot run in INT8 fall back to FP16, not FP32.
      trtexecFlags: ["--int8", "--fp16"],
      ...ngc("24.12", "10.7.0"),
      instancesPerGpu: 2,
      note: "T4 runs INT8 on its tensor cores; the ranges come from a calibration cache",
    },
  },
  p100: {
    name: "p100",
    description: "NVIDIA P100 (sm_60): TensorRT FP16 engines, 2 instances per GPU",
    gpu: {
      precision: "FP16",
      trtexecFlags: ["--fp16"],
      // TensorRT 10 (NGC 24.05 and later) supports sm_70 and newer only: 24.04 is TensorRT 8.6.
      ...ngc("24.04", "8.6.3"),
      instancesPerGpu: 2,
      note: "P100 has no INT8 arithmetic, so FP16; TensorRT 10 dropped sm_60, so a TensorRT 8.x image",
    },
  },
};

/** The target named `name`, or an error listing the known ones. */
export function targetNamed(name: string): Target {
  const target = TARGETS[name as TargetName];
  if (!target) throw new Error(`unknown target '${name}' (known: ${TARGET_NAMES.join(", ")})`);
  return target;
}

/**
 * The layout of a repository made by `infergate repo build` for a GPU target, shared by the
 * build, the linter, `infergate calibrate` and `deploy/build-engines.sh` (which reads the
 * manifest, never config.pbtxt). Triton ignores what is not a numeric version folder inside a
 * model folder, and files at the repository's top level, so the sources travel along.
 */

/** The FP32 ONNX file an engine is built from, inside the model folder. */
export const ENGINE_SOURCE = "source/model.onnx";

/** The INT8 calibration cache of an engine, inside the model folder. */
export const CALIBRATION_CACHE = "source/calibration.cache";

/** The engines to build, one tab-separated line each, at the repository's top level. */
export const ENGINE_MANIFEST = "engines.tsv";

/** What was built and what is left to do, for people, at the repository's top level. */
export const BUILD_NOTES = "BUILD.txt";

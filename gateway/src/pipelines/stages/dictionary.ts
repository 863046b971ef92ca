/**
 * The recognizer's character set from its label file (`ocr_rec/ppocr_keys_v1.txt`): class 0
 * is the CTC blank, classes 1..N the file's lines, and class N + 1 the space, which PP-OCR
 * models trained with `use_space_char` have but the file does not list.
 */
import { readFile } from "node:fs/promises";
import { Code, InferError } from "../../errors.js";

/** The label file of `ocr_rec`, relative to the model repository. */
export const DICTIONARY_FILE = "ocr_rec/ppocr_keys_v1.txt";

/** The charset of a label file's text: blank, one entry per line, space. */
export function charsetOf(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return ["", ...lines, " "];
}

/**
 * A loader reading `path` once (the first call), then answering from memory. A failed read is
 * FAILED_PRECONDITION naming the file, and is tried again on the next call.
 */
export function createDictionaryLoader(path: string): () => Promise<string[]> {
  let loading: Promise<string[]> | undefined;
  return () => {
    loading ??= readFile(path, "utf8").then(charsetOf, (error: unknown) => {
      loading = undefined;
      throw new InferError(
        Code.FAILED_PRECONDITION,
        `the OCR dictionary ${path} cannot be read (run 'infergate repo prepare')`,
        { cause: error },
      );
    });
    return loading;
  };
}

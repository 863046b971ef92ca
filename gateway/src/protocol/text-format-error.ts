/** The error of the protobuf text format parser and printer (see `pbtxt.ts`). */
import { Code, InferError } from "../errors.js";

/**
 * A syntax or type error in text format input, with its 1-based position. An InferError with
 * code INVALID_ARGUMENT, so a config posted by a client maps to 400 like any other bad input.
 * The message reads `config.pbtxt:12:5: unknown field 'max_batch' in inference.ModelConfig`.
 */
export class TextFormatError extends InferError {
  /** The file name given to the parser, as shown in the message. */
  readonly file: string;
  /** 1-based line of the offending token. */
  readonly line: number;
  /** 1-based column (UTF-16 code units) of the offending token. */
  readonly column: number;
  /** The message without the `file:line:column: ` prefix. */
  readonly reason: string;

  constructor(file: string, line: number, column: number, reason: string) {
    super(Code.INVALID_ARGUMENT, `${file}:${line}:${column}: ${reason}`);
    this.file = file;
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

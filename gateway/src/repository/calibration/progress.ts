/**
 * Progress of a long run on stderr: a bar redrawn in place on a terminal
 * (`calibrate [#######-------] 12/40 images, ETA 1m05s`), plain lines otherwise (logs, CI),
 * about twenty of them whatever the total.
 */

/** Where progress goes: a TTY gets the bar. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Prefix of every line, e.g. `calibrate ocr_rec`. */
  label: string;
  total: number;
  /** What is counted, plural: `images`. */
  unit: string;
  stream: ProgressStream;
  /** Clock, ms; default `Date.now`. */
  now?: () => number;
}

/** A progress display. */
export interface Progress {
  /** Reports that `done` of the total are done. */
  update(done: number): void;
  /** Ends the display (a newline after the bar). */
  finish(): void;
}

const BAR_WIDTH = 28;
const PLAIN_LINES = 20;

/** A progress display for `options.total` items. */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const started = now();
  const tty = options.stream.isTTY === true;
  let lastStep = -1;
  let drawn = false;
  return {
    update(done) {
      const { total } = options;
      const line = `${options.label} ${done}/${total} ${options.unit}${eta(done, total, now() - started)}`;
      if (tty) {
        const filled = total > 0 ? Math.round((done / total) * BAR_WIDTH) : BAR_WIDTH;
        const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}]`;
        options.stream.write(
          `\r${line.replace(`${options.label} `, `${options.label} ${bar} `)}\u001b[K`,
        );
        drawn = true;
        return;
      }
      const step = total > 0 ? Math.floor((done * PLAIN_LINES) / total) : PLAIN_LINES;
      if (step !== lastStep || done === total) {
        lastStep = step;
        options.stream.write(`${line}\n`);
      }
    },
    finish() {
      if (tty && drawn) options.stream.write("\n");
    },
  };
}

/** `, ETA 1m05s` from the mean time per item so far; empty before the first or after the last. */
function eta(done: number, total: number, elapsedMs: number): string {
  if (done === 0 || done >= total)
    return done >= total ? `, ${formatSeconds(elapsedMs)} total` : "";
  return `, ETA ${formatSeconds((elapsedMs / done) * (total - done))}`;
}

function formatSeconds(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
}

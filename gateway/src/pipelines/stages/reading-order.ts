/**
 * Reading order of text boxes: rows top to bottom, boxes left to right within a row. Two boxes
 * share a row when their vertical extents overlap by at least half the shorter one's height,
 * which keeps slightly tilted lines together and keeps stacked lines apart.
 */
import type { Quad } from "./point.js";

/** Vertical overlap, as a share of the shorter box, that puts two boxes in one row. */
const SAME_ROW_OVERLAP = 0.5;

interface Extent {
  index: number;
  top: number;
  bottom: number;
  left: number;
}

/** Indices of `quads` in reading order, grouped into rows. */
export function readingOrder(quads: readonly Quad[]): number[][] {
  const extents: Extent[] = quads.map((quad, index) => {
    const ys = quad.map((p) => p[1]);
    const xs = quad.map((p) => p[0]);
    return { index, top: Math.min(...ys), bottom: Math.max(...ys), left: Math.min(...xs) };
  });
  extents.sort((a, b) => a.top + a.bottom - (b.top + b.bottom) || a.left - b.left);
  const rows: Extent[][] = [];
  for (const box of extents) {
    const row = rows.at(-1);
    if (row !== undefined && sharesRow(row, box)) row.push(box);
    else rows.push([box]);
  }
  return rows.map((row) => row.sort((a, b) => a.left - b.left).map((box) => box.index));
}

function sharesRow(row: readonly Extent[], box: Extent): boolean {
  return row.some((other) => {
    const overlap = Math.min(other.bottom, box.bottom) - Math.max(other.top, box.top);
    const shorter = Math.min(other.bottom - other.top, box.bottom - box.top);
    return overlap >= SAME_ROW_OVERLAP * shorter;
  });
}

/**
 * Splits URScript text arriving on a script port (30001..30003) into programs. A program is `def name():` (or a
 * secondary `sec name():`) at the start of a line through the next line that is exactly `end` at column 0 — the
 * URScript the emulator sees (ur_rtde's control script, openpi-edge's servo program) indents its bodies, so an
 * `end` at column 0 closes the program. `#` comment lines right before the `def` travel with it (openpi-edge's
 * header). Any other non-empty line outside a program is handed out as a loose line.
 */

export type ScriptItem =
  | {
      readonly kind: 'program';
      /** `def` (primary: replaces the running program) or `sec` (secondary: runs alongside). */
      readonly flavour: 'def' | 'sec';
      readonly name: string;
      /** The comment lines right before the `def` line. */
      readonly header: readonly string[];
      readonly text: string;
    }
  | { readonly kind: 'line'; readonly text: string };

/** Most text one connection may buffer without completing a program (ur_rtde's script is ~42 KB). */
export const MAX_SCRIPT_BYTES = 1 << 20;

const DEF = /^(def|sec)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*\)\s*:\s*$/;

export class ScriptAccumulator {
  #partial = '';
  #header: string[] = [];
  #program:
    | { flavour: 'def' | 'sec'; name: string; header: string[]; lines: string[]; bytes: number }
    | undefined;

  /** Bytes held for an unfinished program or line. */
  get pending(): number {
    return this.#partial.length + (this.#program?.bytes ?? 0);
  }

  /** Feeds text; returns the programs and loose lines completed by it. Throws when a program outgrows the cap. */
  push(text: string): ScriptItem[] {
    const out: ScriptItem[] = [];
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) this.#line(raw.replace(/\r$/, ''), out);
    if (this.pending > MAX_SCRIPT_BYTES) {
      this.#partial = '';
      this.#program = undefined;
      throw new Error(`URScript of more than ${MAX_SCRIPT_BYTES} bytes without a closing 'end' line`);
    }
    return out;
  }

  #line(line: string, out: ScriptItem[]): void {
    const p = this.#program;
    if (p !== undefined) {
      p.lines.push(line);
      p.bytes += line.length + 1;
      if (line.trimEnd() === 'end') {
        out.push({
          kind: 'program',
          flavour: p.flavour,
          name: p.name,
          header: p.header,
          text: [...p.header, ...p.lines].join('\n'),
        });
        this.#program = undefined;
      }
      return;
    }
    const m = DEF.exec(line.trimEnd());
    if (m) {
      this.#program = {
        flavour: m[1] as 'def' | 'sec',
        name: m[2] as string,
        header: this.#header,
        lines: [line],
        bytes: line.length + 1,
      };
      this.#header = [];
      return;
    }
    const t = line.trim();
    if (t.startsWith('#')) {
      this.#header.push(t);
      return;
    }
    this.#header = [];
    if (t.length > 0) out.push({ kind: 'line', text: t });
  }
}

/**
 * A minimal progress display on stderr (stdout stays for results): one rewritten line on a
 * terminal, a line per tenth of the work otherwise. (A package such as cli-progress would do
 * more; this keeps the CLI free of a dependency the project does not have.)
 */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  private done = 0;
  private lastTenth = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: ProgressSink,
  ) {
    this.render();
  }

  tick(): void {
    this.done++;
    this.render();
  }

  finish(summary?: string): void {
    if (this.out.isTTY) this.out.write('\n');
    if (summary) this.out.write(`${this.label}: ${summary}\n`);
  }

  private render(): void {
    const total = Math.max(this.total, 1);
    const fraction = Math.min(this.done / total, 1);
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      this.out.write(`\r${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total}`);
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== this.lastTenth) {
      this.lastTenth = tenth;
      this.out.write(`${this.label}: ${this.done}/${this.total}\n`);
    }
  }
}

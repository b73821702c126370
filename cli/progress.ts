/**
 * Progress on stderr (stdout stays for results): on a terminal, a cli-progress bar with rate and
 * ETA; otherwise (a log, a pipe, CI) a line per tenth of the work, which a timed redraw would not
 * give.
 */
import { SingleBar } from 'cli-progress';

export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private done = 0;
  private lastTenth = -1;
  private bar?: SingleBar;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: ProgressSink,
  ) {
    if (out.isTTY) {
      this.bar = new SingleBar({
        stream: out as unknown as NodeJS.WritableStream,
        format: `${label} [{bar}] {value}/{total} {percentage}% | {eta_formatted} left`,
        barsize: 30,
        hideCursor: false,
        // Ctrl-C must still end the process (an interrupted rotation resumes).
        gracefulExit: false,
      });
      this.bar.start(total, 0);
    } else {
      this.line();
    }
  }

  tick(): void {
    this.done++;
    if (this.bar) this.bar.increment();
    else this.line();
  }

  /** Stops the bar (its redraw timer would keep the process alive). Safe to call more than once. */
  close(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  finish(summary?: string): void {
    this.close();
    if (summary) this.out.write(`${this.label}: ${summary}\n`);
  }

  private line(): void {
    const fraction = Math.min(this.done / Math.max(this.total, 1), 1);
    const tenth = Math.floor(fraction * 10);
    if (tenth !== this.lastTenth) {
      this.lastTenth = tenth;
      this.out.write(`${this.label}: ${this.done}/${this.total}\n`);
    }
  }
}

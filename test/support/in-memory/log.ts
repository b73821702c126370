/** A `Log` that prints nothing and keeps every line for assertions. */
import type { Log } from '../../../functions/domain/ports';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>[];
}

export class MemoryLog implements Log {
  readonly lines: LogLine[] = [];

  readonly info = (message: string, ...attributes: Record<string, unknown>[]) => this.add('info', message, attributes);
  readonly warn = (message: string, ...attributes: Record<string, unknown>[]) => this.add('warn', message, attributes);
  readonly error = (message: string, ...attributes: Record<string, unknown>[]) => this.add('error', message, attributes);

  private add(level: LogLine['level'], message: string, attributes: Record<string, unknown>[]): void {
    this.lines.push({ level, message, attributes });
  }

  /** Messages, optionally of one level only. */
  messages(level?: LogLine['level']): string[] {
    return this.lines.filter((line) => level === undefined || line.level === level).map((line) => line.message);
  }

  count(message: string): number {
    return this.lines.filter((line) => line.message === message).length;
  }
}

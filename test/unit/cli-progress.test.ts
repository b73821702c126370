/** The CLI's progress display: a cli-progress bar on a terminal, a line per tenth elsewhere. */
import { Progress } from '../../cli/progress';

test('on a terminal: a bar that reaches the total, stopped by finish (no timer left running)', () => {
  // Prepare
  let written = '';
  const sink = { isTTY: true, columns: 120, write: (text: string) => (written += text) };

  // Act
  const progress = new Progress('re-sync', 3, sink);
  for (let i = 0; i < 3; i++) progress.tick();
  progress.finish('3 re-synced, 0 failed');
  progress.close();

  // Assess
  expect(written).toContain('re-sync [');
  expect(written).toContain('3/3 100%');
  expect(written.endsWith('re-sync: 3 re-synced, 0 failed\n')).toBe(true);
});

test('elsewhere: one line per tenth of the work', () => {
  // Prepare
  const lines: string[] = [];
  const sink = { write: (text: string) => lines.push(text) };

  // Act
  const progress = new Progress('re-sync', 100, sink);
  for (let i = 0; i < 100; i++) progress.tick();
  progress.finish('done');

  // Assess
  expect(lines).toHaveLength(12);
  expect(lines[0]).toBe('re-sync: 0/100\n');
  expect(lines[10]).toBe('re-sync: 100/100\n');
  expect(lines[11]).toBe('re-sync: done\n');
});

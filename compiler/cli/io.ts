// The CLI's only contact with the process: output streams and the exit code. Tests pass their own.
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exitCode(code: number): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text + "\n"),
  err: (text) => process.stderr.write(text + "\n"),
  exitCode: (code) => {
    process.exitCode = code;
  },
};

import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";
import { prettyFactory } from "pino-pretty";
import { UserError } from "../config/errors.js";
import { LOG_FORMATS, type LogFormat } from "../config/settings.js";

export type { Logger };
export { LOG_FORMATS, type LogFormat };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /**
   * auto (default): human-readable lines when stdout is a terminal, JSON lines otherwise;
   * json: always JSON; pretty: always human-readable. Else MLDEPLOY_LOG_FORMAT.
   */
  format?: LogFormat;
  /** Extra fields on every line (e.g. component, worker id). */
  base?: Record<string, unknown>;
}

/**
 * The format a logger writing to `stream` uses: `auto` is pretty on a terminal only, so that
 * containers and log shippers (stdout piped) keep one JSON object a line.
 */
export function decideLogFormat(
  format: LogFormat,
  stream: { isTTY?: boolean } = process.stdout,
): "json" | "pretty" {
  if (format !== "auto") return format;
  return stream.isTTY === true ? "pretty" : "json";
}

/** MLDEPLOY_LOG_FORMAT, checked: a bad value is a one-line error naming the variable. */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): LogFormat | undefined {
  const raw = env.MLDEPLOY_LOG_FORMAT;
  if (raw === undefined || raw === "") return undefined;
  return parseLogFormat(raw, "MLDEPLOY_LOG_FORMAT");
}

/** A --log-format value, or a clear error naming where it came from. */
export function parseLogFormat(raw: string, origin: string): LogFormat {
  if ((LOG_FORMATS as readonly string[]).includes(raw)) return raw as LogFormat;
  throw new UserError(
    `invalid setting "logFormat" (from ${origin}): "${raw}" is not one of ${LOG_FORMATS.join(", ")}`,
  );
}

/**
 * Structured JSON logs on stdout (one object a line), so that log shippers need no parsing
 * rules; on a terminal, short human-readable lines instead (see decideLogFormat).
 * Level from options, else MLDEPLOY_LOG_LEVEL, else "info".
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level =
    options.level ?? (process.env.MLDEPLOY_LOG_LEVEL as LevelWithSilent | undefined) ?? "info";
  const format = decideLogFormat(options.format ?? logFormatFromEnv() ?? "auto");
  const settings = {
    level,
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return format === "pretty" ? pino(settings, prettyStdout()) : pino(settings);
}

/**
 * pino-pretty's formatter called synchronously on each line, written to stdout synchronously:
 * no worker thread (pino.transport) and no stream pipeline to flush, so a line logged just
 * before process.exit() is never lost. One line a record: time, level, message, then the few
 * fields as JSON; colour only on a terminal.
 */
function prettyStdout(): DestinationStream {
  const pretty = prettyFactory({
    colorize: process.stdout.isTTY === true,
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname",
    singleLine: true,
  });
  const out = pino.destination({ dest: 1, sync: true });
  return {
    write: (line: string) => out.write(pretty(shortenRecord(JSON.parse(line) as LogRecord))),
  };
}

type LogRecord = Record<string, unknown>;

/** Fields a pretty line always shows: its own place, an error's stack, which worker spoke. */
const KEPT_WHOLE = new Set(["level", "time", "msg", "err", "error", "worker"]);

/** Whether the message says this value as a word ("200 rows", not "127.0.0.1" for 1). */
function says(msg: string, value: string): boolean {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\w.])${escaped}($|[^\\w.])`).test(msg);
}

/**
 * A record made short for a person: fields whose value the message already says are dropped
 * ("scored 70000 rows" need not repeat rows: 70000), and fractions keep 4 significant digits.
 * Only for pretty lines: JSON lines keep every field exactly.
 */
export function shortenRecord(record: LogRecord): LogRecord {
  const msg = typeof record.msg === "string" ? record.msg : "";
  const short: LogRecord = {};
  for (const [key, value] of Object.entries(record)) {
    if (KEPT_WHOLE.has(key)) short[key] = value;
    else if ((typeof value === "string" || typeof value === "number") && says(msg, String(value)))
      continue;
    else if (typeof value === "number" && !Number.isInteger(value))
      short[key] = Number(value.toPrecision(4));
    else short[key] = value;
  }
  return short;
}

/** A logger that writes nothing: for library calls and tests that do not want output. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

// A data sample as columns: the CSV's header and, per column, its cells as numbers where they all
// parse as numbers (empty cells are missing values), else as strings. Comma-, semicolon- or
// tab-separated, as the header line shows. In a semicolon-separated CSV (a spreadsheet in a locale
// that writes 1,5 for 1.5) a column of decimal-comma numbers is numeric too.
import { parse } from 'csv-parse/sync';
import { readUserText } from '../user-file.js';

export interface SampleColumn {
  name: string;
  numeric: boolean;
  /** One value per row; undefined for an empty cell. */
  values: Array<number | string | undefined>;
  /** Set when the numbers were written with a decimal comma (1,5), in a semicolon-separated CSV. */
  decimalComma?: true;
}

export interface Sample {
  file: string;
  rows: number;
  columns: SampleColumn[];
}

/** The header line's separator: a comma, else the semicolon or tab a spreadsheet in some locales writes. */
export function delimiterOf(text: string): string {
  const header = text.slice(0, text.search(/\r?\n|$/));
  if (header.includes(',')) return ',';
  return header.includes(';') ? ';' : header.includes('\t') ? '\t' : ',';
}

/** Whether a cell is a number a numeric column holds: finite (Infinity, NaN and 1e999 are not). */
export const isNumberCell = (v: string) => v.trim() !== '' && Number.isFinite(Number(v));

/** A number written with a decimal comma: 1,5 / -0,25 / ,5 (no thousands separators). */
const DECIMAL_COMMA = /^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$/;

export function readSample(file: string): Sample {
  const text = readUserText(file, 'sample');
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false, trim: true, delimiter: delimiterOf(text) }) as string[][];
  } catch (err) {
    // csv-parse's message ("Invalid Record Length: expect 3, got 2 on line 3") does not name the file.
    throw new Error(`${file}: not a CSV sample: ${(err as Error).message}`, { cause: err });
  }
  if (records.length < 2) throw new Error(`${file}: expected a header line and at least one row`);
  const [header, ...rows] = records;
  // Only with ';' can a comma be a decimal separator: in a comma-separated CSV it splits cells.
  const semicolon = delimiterOf(text) === ';';
  const columns = header!.map((name, c): SampleColumn => {
    const cells = rows.map((r) => (r[c] === undefined || r[c] === '' ? undefined : r[c]!));
    const present = cells.filter((v) => v !== undefined);
    if (present.length > 0 && present.every(isNumberCell)) return { name, numeric: true, values: cells.map((v) => (v === undefined ? undefined : Number(v))) };
    if (semicolon && present.length > 0 && present.every((v) => isNumberCell(v) || DECIMAL_COMMA.test(v))) {
      return { name, numeric: true, decimalComma: true, values: cells.map((v) => (v === undefined ? undefined : Number(v.replace(',', '.')))) };
    }
    return { name, numeric: false, values: cells };
  });
  return { file, rows: rows.length, columns };
}

/** A comparable form of a column or field name: Wind_Speed-kmph and wind_speed_kmph are one name. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

/**
 * Header columns that name one field twice (temp_c twice, or Temp C beside temp_c: fields are matched by
 * normalizeName): each group's 1-based column numbers. check --sample runs a field with the first of them.
 */
export function repeatedColumns(sample: Sample): Array<{ name: string; columns: number[] }> {
  const byName = new Map<string, number[]>();
  sample.columns.forEach((c, i) => byName.set(normalizeName(c.name), [...(byName.get(normalizeName(c.name)) ?? []), i + 1]));
  return [...byName].filter(([, columns]) => columns.length > 1).map(([name, columns]) => ({ name, columns }));
}

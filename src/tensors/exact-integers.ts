// 64-bit integer elements (int64, uint64: onnxruntime and the OIP codec give BigInts) are exact as
// JavaScript numbers, and so as JSON numbers that clients parse as doubles, only within
// ±(2^53 - 1). Every writer of such values asks here.
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Whether a 64-bit integer is exact as a number. */
export function isExactNumber(value: bigint): boolean {
  return value <= SAFE && value >= -SAFE;
}

/** Whether every value of a 64-bit integer tensor is exact as a number. */
export function allExactNumbers(values: BigInt64Array | BigUint64Array): boolean {
  for (const v of values) if (!isExactNumber(v)) return false;
  return true;
}

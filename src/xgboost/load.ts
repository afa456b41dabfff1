// Placeholder replaced by the XGBoost converter.
import type { InitOptions } from '../init/init.js';

export function xgboostInitOptions(file: string): Partial<InitOptions> {
  throw new Error(`${file}: XGBoost models are not supported yet`);
}

/**
 * Shapes shared by the CLV models (`shared/clv/`): the compressed customer summary they are fitted
 * on, and what a fit reports.
 */

/**
 * Customers summarised as in the BTYD literature, compressed: one row per distinct (x, t_x, T)
 * with the number of customers having it (`weight`). Time is in the model's unit (days or weeks).
 * - x: repeat purchases (purchase periods after the first);
 * - tx: time of the last purchase since the first ("recency" in lifetimes);
 * - T: time since the first purchase (age).
 */
export interface FrequencySummary {
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  weight: Float64Array;
}

/** Repeat customers' spend, compressed: one row per distinct (x, mean spend) with a weight. */
export interface SpendSummary {
  /** Number of repeat purchases the mean is over (x > 0). */
  x: Float64Array;
  /** Mean value of those purchases (z̄ in Fader, Hardie & Lee 2005, "RFM and CLV"). */
  meanSpend: Float64Array;
  weight: Float64Array;
}

export interface FitOptions {
  /** L2 penalty on the log-parameters (0 = plain maximum likelihood). */
  penalizer?: number;
  maxIterations?: number;
  /** Convergence tolerance on the gradient norm of the (weighted, mean) negative log-likelihood. */
  tolerance?: number;
}

export interface FitResult<Params> {
  params: Params;
  /** Log-likelihood of the data at `params` (sum over customers, penalty excluded). */
  logLikelihood: number;
  converged: boolean;
  iterations: number;
  seconds: number;
  nCustomers: number;
  nDistinctRows: number;
  /** Why the optimiser stopped, in words (for the model_fit table and for failed fits). */
  message: string;
}

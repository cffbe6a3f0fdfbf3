/** The charts' axis scale, on the ranges a report's trends meet. */
import { describe, expect, it } from 'vitest';
import { niceScale } from '../shared/report/charts.js';

describe('niceScale', () => {
  it('spans the range with round ticks', () => {
    expect(niceScale(3, 97)).toEqual({ lo: 0, hi: 100, ticks: [0, 20, 40, 60, 80, 100] });
  });

  it('treats values equal but for rounding as one value (the ticks would otherwise never advance)', () => {
    const scale = niceScale(0.3, 0.1 + 0.2);
    expect(scale.ticks.length).toBeLessThan(10);
    expect(scale.lo).toBeLessThan(0.3);
    expect(scale.hi).toBeGreaterThan(0.3);
  });
});

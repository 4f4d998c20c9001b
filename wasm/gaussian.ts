/**
 * The noise "philox4x32-10/box-muller" of src/core/noise.ts in WebAssembly SIMD (AssemblyScript),
 * equal to its fillGaussian bit for bit: Philox4x32-10 on four counters per vector, Box-Muller in
 * double precision with fdlibm's kernels (the ones V8's Math.log, Math.sin and Math.cos are ported
 * from), each normal rounded to float32 as the host's noise is. Built by `npm run wasm` into
 * src/runtime/noise/gaussian-wasm.ts; test/wasm-noise.test.ts checks both.
 */

const M0: u32 = 0xd2511f53;
const M1: u32 = 0xcd9e8d57;
const W0: u32 = 0x9e3779b9;
const W1: u32 = 0xbb67ae85;

// fdlibm (Sun Microsystems, 1993) e_log.c, k_sin.c, k_cos.c coefficients.
const LN2_HI: f64 = 6.93147180369123816490e-1;
const LN2_LO: f64 = 1.90821492927058770002e-10;
const LG1: f64 = 6.666666666666735130e-1;
const LG2: f64 = 3.999999999940941908e-1;
const LG3: f64 = 2.857142874366239149e-1;
const LG4: f64 = 2.222219843214978396e-1;
const LG5: f64 = 1.818357216161805012e-1;
const LG6: f64 = 1.531383769920937332e-1;
const LG7: f64 = 1.479819860511658591e-1;
const S1: f64 = -1.66666666666666324348e-1;
const S2: f64 = 8.33333333332248946124e-3;
const S3: f64 = -1.98412698298579493134e-4;
const S4: f64 = 2.75573137070700676789e-6;
const S5: f64 = -2.50507602534068634195e-8;
const S6: f64 = 1.58969099521155010221e-10;
const C1: f64 = 4.16666666666666019037e-2;
const C2: f64 = -1.38888888888741095749e-3;
const C3: f64 = 2.48015872894767294178e-5;
const C4: f64 = -2.75573143513906633035e-7;
const C5: f64 = 2.08757232129817482790e-9;
const C6: f64 = -1.13596475577881948265e-11;

@inline function mulhi(x: v128, m: v128): v128 {
  const lo = i64x2.extmul_low_i32x4_u(x, m);
  const hi = i64x2.extmul_high_i32x4_u(x, m);
  return i8x16.shuffle(lo, hi, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

@inline function sp(v: f64): v128 {
  return f64x2.splat(v);
}

// c + z * p: one Horner step.
@inline function horner(p: v128, z: v128, c: f64): v128 {
  return f64x2.add(sp(c), f64x2.mul(z, p));
}

// ln(u) for u in (0, 1), fdlibm's method: u = 2^k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)).
@inline function logLanes(u: v128): v128 {
  const mant = v128.and(u, i64x2.splat(0x000fffffffffffff));
  const i = v128.and(i64x2.add(mant, i64x2.splat(0x00095f6400000000)), i64x2.splat(0x0010000000000000));
  const x = v128.or(mant, v128.xor(i, i64x2.splat(0x3ff0000000000000)));
  const e = i64x2.sub(i64x2.add(i64x2.shr_u(u, 52), i64x2.shr_u(i, 52)), i64x2.splat(1023));
  // The exponents fit 32 bits: narrow the two lanes and convert.
  const k = f64x2.convert_low_i32x4_s(i8x16.shuffle(e, e, 0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11));
  const f = f64x2.sub(x, sp(1.0));
  const s = f64x2.div(f, f64x2.add(sp(2.0), f));
  const z = f64x2.mul(s, s);
  const w = f64x2.mul(z, z);
  const t1 = f64x2.mul(w, horner(horner(sp(LG6), w, LG4), w, LG2));
  const t2 = f64x2.mul(z, horner(horner(horner(sp(LG7), w, LG5), w, LG3), w, LG1));
  const r = f64x2.add(t2, t1);
  const hfsq = f64x2.mul(sp(0.5), f64x2.mul(f, f));
  return f64x2.sub(
    f64x2.mul(k, sp(LN2_HI)),
    f64x2.sub(f64x2.sub(hfsq, f64x2.add(f64x2.mul(s, f64x2.add(hfsq, r)), f64x2.mul(k, sp(LN2_LO)))), f),
  );
}

// sqrt(-2 ln((w + 1/2) 2^-32)) for two words (low two lanes of w).
@inline function radius(w: v128): v128 {
  const u = f64x2.mul(f64x2.add(f64x2.convert_low_i32x4_u(w), sp(0.5)), sp(2.3283064365386963e-10));
  return f64x2.sqrt(f64x2.mul(sp(-2.0), logLanes(u)));
}

@inline function ksin(x: v128, z: v128): v128 {
  const r = horner(horner(horner(horner(sp(S6), z, S5), z, S4), z, S3), z, S2);
  return f64x2.add(x, f64x2.mul(f64x2.mul(z, x), horner(r, z, S1)));
}

@inline function kcos(z: v128): v128 {
  const r = f64x2.mul(z, horner(horner(horner(horner(horner(sp(C6), z, C5), z, C4), z, C3), z, C2), z, C1));
  const hz = f64x2.mul(sp(0.5), z);
  const w = f64x2.sub(sp(1.0), hz);
  return f64x2.add(w, f64x2.add(f64x2.sub(f64x2.sub(sp(1.0), w), hz), f64x2.mul(z, r)));
}

// Two normals per lane pair: r cos(2 pi w 2^-32) and r sin(...) for the low two lanes of words.
// The angle is reduced exactly on the integer: v = w + 2^29 gives quadrant q = v >> 30 and
// theta = ((v & (2^30 - 1)) - 2^29) 2 pi 2^-32 in [-pi/4, pi/4).
@inline function pairCos(r: v128, w: v128, sinOut: usize): v128 {
  const v = i32x4.add(w, i32x4.splat(0x20000000));
  const d = i32x4.sub(v128.and(v, i32x4.splat(0x3fffffff)), i32x4.splat(0x20000000));
  const q = i32x4.shr_u(v, 30);
  const th = f64x2.mul(f64x2.convert_low_i32x4_s(d), sp(1.4629180792671596e-9));
  const z = f64x2.mul(th, th);
  const s = ksin(th, z);
  const c = kcos(z);
  const swap = i64x2.extend_low_i32x4_s(i32x4.eq(v128.and(q, i32x4.splat(1)), i32x4.splat(1)));
  const qn = i32x4.add(q, i32x4.splat(1));
  const negC = i64x2.shl(i64x2.extend_low_i32x4_s(i32x4.shr_u(qn, 1)), 63);
  const negS = i64x2.shl(i64x2.extend_low_i32x4_s(i32x4.shr_u(q, 1)), 63);
  const cv = v128.xor(v128.bitselect(s, c, swap), negC);
  const sv = v128.xor(v128.bitselect(c, s, swap), negS);
  v128.store(sinOut, f64x2.mul(r, sv));
  return f64x2.mul(r, cv);
}

// Four elements: z rounded to float32 as the host's noise is, then x + sigma z rounded once.
@inline function emit(p: usize, xp: usize, sig: v128, lo: v128, hi: v128, addX: bool): void {
  const z = i8x16.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  if (!addX) {
    v128.store(p, z);
    return;
  }
  const xv = v128.load(xp);
  const xh = i8x16.shuffle(xv, xv, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  const zh = i8x16.shuffle(z, z, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  const ylo = f64x2.add(f64x2.promote_low_f32x4(xv), f64x2.mul(sig, f64x2.promote_low_f32x4(z)));
  const yhi = f64x2.add(f64x2.promote_low_f32x4(xh), f64x2.mul(sig, f64x2.promote_low_f32x4(zh)));
  v128.store(p, i8x16.shuffle(f32x4.demote_f64x2_zero(ylo), f32x4.demote_f64x2_zero(yhi), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
}

/**
 * out[k dim + j] = x[j] + sigma eps(first + k, j), eps being element j of draw first + k under key
 * (k0, k1) and stream; eps alone when x is 0. Rows are written 16 floats at a time, so out must hold
 * 16 floats past count * dim and x must be padded with zeros to a multiple of 16; scratch holds
 * 576 bytes.
 */
export function fill(out: usize, x: usize, dim: i32, count: i32, first: u32, stream: u32, k0: u32, k1: u32, sigma: f64, scratch: usize): void {
  const keys = scratch + 256;
  for (let r = 0; r < 10; r++) {
    v128.store(keys + 16 * r, i32x4.splat(k0 + W0 * <u32>r));
    v128.store(keys + 160 + 16 * r, i32x4.splat(k1 + W1 * <u32>r));
  }
  const m0 = i32x4.splat(M0);
  const m1 = i32x4.splat(M1);
  const vecs = (dim + 15) >> 4;
  const sig = sp(sigma);
  for (let k = 0; k < count; k++) {
    const row = out + <usize>(k * dim) * 4;
    const ctr1 = i32x4.splat(first + <u32>k);
    for (let v = 0; v < vecs; v++) {
      let x0 = i32x4.add(i32x4.splat(v * 4), i32x4(0, 1, 2, 3));
      let x1 = ctr1;
      let x2 = i32x4.splat(stream);
      let x3 = i32x4.splat(0);
      for (let r = 0; r < 10; r++) {
        const a = v128.load(keys + 16 * r);
        const b = v128.load(keys + 160 + 16 * r);
        const hi0 = mulhi(x0, m0);
        const lo0 = i32x4.mul(x0, m0);
        const hi1 = mulhi(x2, m1);
        const lo1 = i32x4.mul(x2, m1);
        x0 = v128.xor(v128.xor(hi1, x1), a);
        x1 = lo1;
        x2 = v128.xor(v128.xor(hi0, x3), b);
        x3 = lo0;
      }
      // Lanes 2 and 3 of each word moved down: every helper below works on lanes 0 and 1.
      const x0h = i8x16.shuffle(x0, x0, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      const x1h = i8x16.shuffle(x1, x1, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      const x2h = i8x16.shuffle(x2, x2, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      const x3h = i8x16.shuffle(x3, x3, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
      // Element 4c + m of counter c is, for m = 0..3, r0 cos t0, r0 sin t0, r1 cos t1, r1 sin t1.
      const ca = pairCos(radius(x0), x1, scratch);
      const sa = v128.load(scratch);
      const cb = pairCos(radius(x2), x3, scratch);
      const sb = v128.load(scratch);
      const cah = pairCos(radius(x0h), x1h, scratch);
      const sah = v128.load(scratch);
      const cbh = pairCos(radius(x2h), x3h, scratch);
      const sbh = v128.load(scratch);
      const p = row + <usize>(v * 16) * 4;
      const xp = x + <usize>(v * 16) * 4;
      emit(p, xp, sig, i8x16.shuffle(ca, sa, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(cb, sb, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), x != 0);
      emit(p + 16, xp + 16, sig, i8x16.shuffle(ca, sa, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), i8x16.shuffle(cb, sb, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), x != 0);
      emit(p + 32, xp + 32, sig, i8x16.shuffle(cah, sah, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), i8x16.shuffle(cbh, sbh, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), x != 0);
      emit(p + 48, xp + 48, sig, i8x16.shuffle(cah, sah, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), i8x16.shuffle(cbh, sbh, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), x != 0);
    }
  }
}

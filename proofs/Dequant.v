(* Float facts of the quantizers, with Flocq's rounding (round-to-nearest-even, fp32 = FLT(-149, 24), fp16 =
   FLT(-24, 11): EveryHalfConvertsExactly checks that fp32_to_fp16 and F16C are exactly this rounding) and the
   Gappa tactic for the bounds. *)
From Coq Require Import Reals Lra Lia.
From Flocq Require Import Core Relative.
From Gappa Require Import Gappa_tactic.
Open Scope R_scope.

Notation rnd32 := (round radix2 (FLT_exp (-149) 24) ZnearestE).
Notation rnd16 := (round radix2 (FLT_exp (-24) 11) ZnearestE).

(* ==== TQ1_0 / TQ2_0: ternary weights {-1, 0, 1} * s are encoded and decoded exactly ====
   tq*_from_float_ref: d = amax = s (stored as fp32_to_fp16(d)), id = 1.0f / d, trit = lround(x * id) + 1;
   tq*_to_float_ref: (trit - 1) * fp16_to_fp32(d). For s an fp16 value (of any magnitude an fp16 scale can take
   whose inverse is a normal float: 2^-24 .. 65504): x * id lies within 2^-22 of x / s in {-1, 0, 1}, so lround
   gives it, and the decoded value (t - 1) * fp16(s) is x exactly. *)
Lemma inverse_product : forall s, 1 / 16777216 <= s <= 65504 -> Rabs (rnd32 (s * rnd32 (1 / s)) - 1) <= 1 / 4194304.
Proof.
  intros s H.
  assert (E : s * rnd32 (1 / s) = 1 + (rnd32 (1 / s) - 1 / s) / (1 / s)) by (field; lra).
  rewrite E. gappa.
Qed.

Theorem ternary_exact : forall s k, 1 / 16777216 <= s <= 65504 -> rnd16 s = s -> (k = -1 \/ k = 0 \/ k = 1)%Z ->
  Rabs (rnd32 (IZR k * s * rnd32 (1 / s)) - IZR k) <= 1 / 4194304 /\ rnd32 (IZR k * rnd16 s) = IZR k * s.
Proof.
  intros s k Hs H16 Hk. rewrite H16.
  assert (G : generic_format radix2 (FLT_exp (-149) 24) s).
  { assert (G16 : generic_format radix2 (FLT_exp (-24) 11) s) by (rewrite <- H16; apply generic_format_round;
      [apply FLT_exp_valid; reflexivity | apply valid_rnd_N]).
    apply generic_inclusion_ge with (e1 := (-24)%Z) (fexp1 := FLT_exp (-24) 11); try assumption.
    - intros e He. unfold FLT_exp. lia.
    - apply Rle_trans with (2 := Rle_abs _). apply Rle_trans with (2 := proj1 Hs). rewrite bpow_powerRZ. simpl. lra. }
  destruct Hk as [-> | [-> | ->]].
  - replace (IZR (-1) * s * rnd32 (1 / s)) with (- (s * rnd32 (1 / s))) by ring.
    replace (IZR (-1) * s) with (- s) by ring.
    rewrite !round_NE_opp. split.
    + replace (- rnd32 (s * rnd32 (1 / s)) - IZR (-1)) with (- (rnd32 (s * rnd32 (1 / s)) - 1))
        by ring.
      rewrite Rabs_Ropp. apply inverse_product; assumption.
    + rewrite round_generic; [ring | apply valid_rnd_N | assumption].
  - rewrite !Rmult_0_l, round_0; [|apply valid_rnd_N]. split; [rewrite Rminus_0_r, Rabs_R0; lra | reflexivity].
  - rewrite !Rmult_1_l. split; [apply inverse_product; assumption|].
    rewrite round_generic; [reflexivity | apply valid_rnd_N | assumption].
Qed.

(* ==== Q8_0: every finite value dequantizes to within half a step, plus the fp16 rounding of the scale ====
   q8_0_from_float_ref (and its AVX2/AVX-512 forms, same operations): amax = max |x_j|, d = amax / 127.0f,
   id = 1.0f / d, q_j = clamp(lrint(x_j * id), -128, 127), the block stores fp32_to_fp16(d);
   q8_0_to_float_ref: x'_j = float(q_j) * fp16_to_fp32(d16). For blocks with 2^-20 <= amax <= 65504 * 127 (below,
   the scale is 0 or subnormal in fp16; above, it overflows fp16): the clamp never acts, |q_j| <= 127 (the sign
   trick's domain), and |x'_j - x_j| <= d / 2 + 128 * |fp16(d) - d| + d / 8192, where |fp16(d) - d| <= d / 2048
   once d >= 2^-14 (fp16_scale_error): half a step, the scale's fp16 rounding at the block's edge, and 2^-13 d of
   float rounding. *)
Definition A_MIN := 1 / 1048576.
Definition A_MAX := 8319008.

Lemma q8_step_gappa : forall t a, -1 <= t <= 1 -> A_MIN <= a <= A_MAX ->
  Rabs (rnd32 (t * ((127 / (1 + (rnd32 (a / 127) - a / 127) / (a / 127))) *
                    (1 + (rnd32 (1 / rnd32 (a / 127)) - 1 / rnd32 (a / 127)) / (1 / rnd32 (a / 127)))))
        - t * (127 / (1 + (rnd32 (a / 127) - a / 127) / (a / 127)))) <= 1 / 32768.
Proof. unfold A_MIN, A_MAX. intros t a Ht Ha. gappa. Qed.

Lemma q8_scale_gappa : forall a, A_MIN <= a <= A_MAX ->
  Rabs ((rnd32 (a / 127) - a / 127) / (a / 127)) <= 1 / 16777216 /\ 1 / 134217728 <= rnd32 (a / 127).
Proof. unfold A_MIN, A_MAX. intros a Ha. split; gappa. Qed.

(* Flocq's error of round-to-nearest in fp32: relative 2^-24, or absolute 2^-150 where subnormal. *)
Lemma rnd32_error : forall y, Rabs (rnd32 y - y) <= Rabs y / 16777216 + bpow radix2 (-150).
Proof.
  intros y. destruct (error_N_FLT radix2 (-149) 24 eq_refl (fun x => negb (Z.even x)) y)
    as (eps & eta & He & Hn & _ & E).
  assert (Hb : / 2 * bpow radix2 (- (24) + 1) = / 16777216).
  { change (bpow radix2 (- (24) + 1)) with (/ IZR (Z.pow_pos 2 23)). rewrite <- Rinv_mult. reflexivity. }
  rewrite Hb in He.
  assert (B : / 2 * bpow radix2 (-149) = bpow radix2 (-150)).
  { replace (-150)%Z with (-1 + -149)%Z by reflexivity. rewrite bpow_plus. reflexivity. }
  rewrite B in Hn.
  replace (round radix2 (FLT_exp (-149) 24) ZnearestE y) with (y * (1 + eps) + eta) by (rewrite E; reflexivity).
  replace (y * (1 + eps) + eta - y) with (y * eps + eta) by ring.
  eapply Rle_trans; [apply Rabs_triang|]. rewrite Rabs_mult.
  assert (Rabs y * Rabs eps <= Rabs y / 16777216).
  { unfold Rdiv. apply Rmult_le_compat_l; [apply Rabs_pos | exact He]. }
  lra.
Qed.

Lemma fp16_scale_error : forall d, 1 / 16384 <= d <= 65504 -> Rabs ((rnd16 d - d) / d) <= 1 / 2048.
Proof. intros d Hd. gappa. Qed.

Theorem q8_0_dequant : forall a x q, A_MIN <= a <= A_MAX -> Rabs x <= a ->
  let d := rnd32 (a / 127) in let p := rnd32 (x * rnd32 (1 / d)) in
  Rabs (IZR q - p) <= 1 / 2 ->
  (-127 <= q <= 127)%Z /\ Rabs (rnd32 (IZR q * rnd16 d) - x) <= d / 2 + 128 * Rabs (rnd16 d - d) + d / 8192.
Proof.
  intros a x q Ha Hx d p Hq.
  assert (Hapos : 0 < a) by (unfold A_MIN in Ha; lra).
  destruct (q8_scale_gappa a Ha) as [He Hd]. fold d in He, Hd.
  assert (Hdpos : 0 < d) by lra.
  set (e := (d - a / 127) / (a / 127)) in He.
  apply Rabs_le_inv in He.
  assert (Hr : a / d <= 127 + 1 / 32768).
  { assert (Ee : d = a / 127 * (1 + e)) by (unfold e; field; lra).
    assert (Ea : a / d = 127 / (1 + e)) by (rewrite Ee; field; lra).
    rewrite Ea. apply (Rmult_le_reg_r (1 + e)); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. nra. }
  set (t := x / a).
  assert (Ht : -1 <= t <= 1).
  { unfold t. apply Rabs_le_inv in Hx. split.
    - apply (Rmult_le_reg_r a); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. lra.
    - apply (Rmult_le_reg_r a); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. lra. }
  pose proof (q8_step_gappa t a Ht Ha) as Hs. fold d in Hs.
  assert (E1 : 127 / (1 + (d - a / 127) / (a / 127)) = a / d) by (field; lra).
  assert (E2 : a / d * (1 + (rnd32 (1 / d) - 1 / d) / (1 / d)) = a * rnd32 (1 / d)) by (field; lra).
  rewrite E1, E2 in Hs.
  assert (E3 : t * (a * rnd32 (1 / d)) = x * rnd32 (1 / d)) by (unfold t; field; lra).
  assert (E4 : t * (a / d) = x / d) by (unfold t; field; lra).
  rewrite E3, E4 in Hs. fold p in Hs.
  (* |x / d| <= a / d <= 127 + 2^-15 *)
  assert (Hxd : Rabs (x / d) <= 127 + 1 / 32768).
  { unfold Rdiv. rewrite Rabs_mult, (Rabs_inv d), (Rabs_pos_eq d) by lra.
    apply Rle_trans with (a * / d); [apply Rmult_le_compat_r; [apply Rlt_le, Rinv_0_lt_compat|]; lra|].
    exact Hr. }
  assert (Hqr : Rabs (IZR q) < 128).
  { apply Rabs_def1; apply Rabs_le_inv in Hq; apply Rabs_le_inv in Hs; apply Rabs_le_inv in Hxd; lra. }
  apply Rabs_def2 in Hqr. destruct Hqr as [Hq1 Hq2].
  apply lt_IZR in Hq1. rewrite <- opp_IZR in Hq2. apply lt_IZR in Hq2.
  split; [lia|].
  assert (Hq127 : -127 <= IZR q <= 127) by (split; apply IZR_le; lia).
  pose proof (rnd32_error (IZR q * rnd16 d)) as Hprod.
  assert (Hh : Rabs (IZR q * rnd16 d) <= 127 * d + 127 * Rabs (rnd16 d - d)).
  { rewrite Rabs_mult. replace (rnd16 d) with (d + (rnd16 d - d)) at 1 by ring.
    assert (Rabs (d + (rnd16 d - d)) <= d + Rabs (rnd16 d - d))
      by (eapply Rle_trans; [apply Rabs_triang|]; rewrite (Rabs_pos_eq d) by lra; lra).
    assert (Rabs (IZR q) <= 127) by (apply Rabs_le; lra).
    assert (0 <= Rabs (d + (rnd16 d - d))) by apply Rabs_pos.
    nra. }
  assert (Htiny : bpow radix2 (-150) <= d / 1048576).
  { apply Rle_trans with (bpow radix2 (-47)); [apply bpow_le; lia|].
    change (bpow radix2 (-47)) with (/ 140737488355328). lra. }
  pose proof (Rabs_pos (rnd16 d - d)).
  (* x' - x = (x' - q d16) + q (d16 - d) + d (q - x / d) *)
  assert (E5 : rnd32 (IZR q * rnd16 d) - x =
               (rnd32 (IZR q * rnd16 d) - IZR q * rnd16 d) + IZR q * (rnd16 d - d) + d * (IZR q - x / d))
    by (field; lra).
  rewrite E5.
  assert (B2 : Rabs (IZR q * (rnd16 d - d)) <= 127 * Rabs (rnd16 d - d)).
  { rewrite Rabs_mult. apply Rmult_le_compat_r; [apply Rabs_pos|]. apply Rabs_le. lra. }
  assert (B3 : Rabs (d * (IZR q - x / d)) <= d * (1 / 2 + 1 / 32768)).
  { rewrite Rabs_mult, (Rabs_pos_eq d) by lra. apply Rmult_le_compat_l; [lra|].
    replace (IZR q - x / d) with ((IZR q - p) + (p - x / d)) by ring.
    eapply Rle_trans; [apply Rabs_triang|]. lra. }
  eapply Rle_trans; [apply Rabs_triang|]. eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  lra.
Qed.

(* ==== Q4_0: within half a step, or one step at the clamped edge ====
   q4_0_from_float_ref (no fma contraction): m = the value of largest magnitude, d = m / -8.0f, id = 1.0f / d,
   q = min(15, int(x * id + 8.5f)) with the product and the sum each rounded to fp32, int() truncating; the block
   stores fp16(d); q4_0_to_float_ref: x' = float(q - 8) * fp16(d). Stated for m < 0 (m = -a, d = a / 8 > 0); for
   m > 0 every intermediate is the exact negation (round-to-nearest-even is symmetric), with x' - x negated too.
   For 2^-20 <= a <= 65504 * 8 and |x| <= a: 0 <= q <= 15 and |x' - x| <= d / 2 + 9 |fp16(d) - d| + d / 4096,
   except where the clamp acts (x * id + 8.5 rounds to 16 or more: x near +a, the value 8 has no code), where the
   first term is d. *)
Definition A4_MIN := 1 / 1048576.
Definition A4_MAX := 524032.

Lemma q4_step_gappa : forall t a, -1 <= t <= 1 -> A4_MIN <= a <= A4_MAX ->
  Rabs (rnd32 (rnd32 (t * ((8 / (1 + (rnd32 (a / 8) - a / 8) / (a / 8))) *
                    (1 + (rnd32 (1 / rnd32 (a / 8)) - 1 / rnd32 (a / 8)) / (1 / rnd32 (a / 8))))) + 17 / 2)
        - (t * (8 / (1 + (rnd32 (a / 8) - a / 8) / (a / 8))) + 17 / 2)) <= 1 / 65536.
Proof. unfold A4_MIN, A4_MAX. intros t a Ht Ha. gappa. Qed.

Lemma q4_scale_gappa : forall a, A4_MIN <= a <= A4_MAX ->
  Rabs ((rnd32 (a / 8) - a / 8) / (a / 8)) <= 1 / 16777216 /\ 1 / 16777216 <= rnd32 (a / 8).
Proof. unfold A4_MIN, A4_MAX. intros a Ha. split; gappa. Qed.

Theorem q4_0_dequant : forall a x, A4_MIN <= a <= A4_MAX -> Rabs x <= a ->
  let d := rnd32 (a / 8) in let v := rnd32 (rnd32 (x * rnd32 (1 / d)) + 17 / 2) in
  let q := Z.min 15 (Zfloor v) in
  (0 <= q <= 15)%Z /\
  Rabs (rnd32 (IZR (q - 8) * rnd16 d) - x) <=
    (if (Zfloor v <=? 15)%Z then d / 2 else d) + 9 * Rabs (rnd16 d - d) + d / 4096.
Proof.
  intros a x Ha Hx d v q.
  assert (Hapos : 0 < a) by (unfold A4_MIN in Ha; lra).
  destruct (q4_scale_gappa a Ha) as [He Hd]. fold d in He, Hd.
  assert (Hdpos : 0 < d) by lra.
  set (e := (d - a / 8) / (a / 8)) in He.
  apply Rabs_le_inv in He.
  assert (Hr : a / d <= 8 + 1 / 65536).
  { assert (Ee : d = a / 8 * (1 + e)) by (unfold e; field; lra).
    assert (Ea : a / d = 8 / (1 + e)) by (rewrite Ee; field; lra).
    rewrite Ea. apply (Rmult_le_reg_r (1 + e)); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. nra. }
  set (t := x / a).
  assert (Ht : -1 <= t <= 1).
  { unfold t. apply Rabs_le_inv in Hx. split.
    - apply (Rmult_le_reg_r a); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. lra.
    - apply (Rmult_le_reg_r a); [lra|]. unfold Rdiv. rewrite Rmult_assoc, Rinv_l by lra. lra. }
  pose proof (q4_step_gappa t a Ht Ha) as Hs. fold d in Hs.
  assert (E1 : 8 / (1 + (d - a / 8) / (a / 8)) = a / d) by (field; lra).
  assert (E2 : a / d * (1 + (rnd32 (1 / d) - 1 / d) / (1 / d)) = a * rnd32 (1 / d)) by (field; lra).
  rewrite E1, E2 in Hs.
  assert (E3 : t * (a * rnd32 (1 / d)) = x * rnd32 (1 / d)) by (unfold t; field; lra).
  assert (E4 : t * (a / d) = x / d) by (unfold t; field; lra).
  rewrite E3, E4 in Hs. fold v in Hs. apply Rabs_le_inv in Hs.
  assert (Hxd : Rabs (x / d) <= 8 + 1 / 65536).
  { unfold Rdiv. rewrite Rabs_mult, (Rabs_inv d), (Rabs_pos_eq d) by lra.
    apply Rle_trans with (a * / d); [apply Rmult_le_compat_r; [apply Rlt_le, Rinv_0_lt_compat|]; lra|].
    exact Hr. }
  apply Rabs_le_inv in Hxd.
  pose proof (Zfloor_lb v) as Hf1. pose proof (Zfloor_ub v) as Hf2.
  assert (Hf0 : (0 <= Zfloor v)%Z) by (apply le_IZR, Rnot_lt_le; intros Hlt;
    apply lt_IZR in Hlt; assert (Zfloor v <= -1)%Z by lia; apply IZR_le in H; lra).
  (* |(q - 8) - x / d| <= 1/2 + 2^-16, or <= 1 + 2^-15 where the clamp acts *)
  assert (Hstep : Rabs (IZR (q - 8) - x / d) <=
                  (if (Zfloor v <=? 15)%Z then 1 / 2 else 1) + 1 / 32768).
  { unfold q. destruct (Z.leb_spec (Zfloor v) 15) as [Hle | Hgt].
    - rewrite Z.min_r by lia. rewrite minus_IZR. apply Rabs_le. lra.
    - rewrite Z.min_l by lia. change (IZR (15 - 8)) with 7. apply IZR_lt in Hgt.
      assert (16 <= IZR (Zfloor v)) by (apply IZR_le; apply lt_IZR in Hgt; lia). apply Rabs_le. lra. }
  split; [unfold q; lia|].
  assert (Hq8 : Rabs (IZR (q - 8)) <= 8) by (unfold q; apply Rabs_le; rewrite minus_IZR; split;
    [apply Rle_trans with (IZR 0 - 8); [lra|]; apply Rplus_le_compat_r, IZR_le; lia
    |apply Rle_trans with (IZR 15 - 8); [|lra]; apply Rplus_le_compat_r, IZR_le; lia]).
  pose proof (rnd32_error (IZR (q - 8) * rnd16 d)) as Hprod.
  assert (Hh : Rabs (IZR (q - 8) * rnd16 d) <= 8 * d + 8 * Rabs (rnd16 d - d)).
  { rewrite Rabs_mult. replace (rnd16 d) with (d + (rnd16 d - d)) at 1 by ring.
    assert (Rabs (d + (rnd16 d - d)) <= d + Rabs (rnd16 d - d))
      by (eapply Rle_trans; [apply Rabs_triang|]; rewrite (Rabs_pos_eq d) by lra; lra).
    assert (0 <= Rabs (d + (rnd16 d - d))) by apply Rabs_pos.
    assert (0 <= Rabs (IZR (q - 8))) by apply Rabs_pos.
    nra. }
  assert (Htiny : bpow radix2 (-150) <= d / 1048576).
  { apply Rle_trans with (bpow radix2 (-44)); [apply bpow_le; lia|].
    change (bpow radix2 (-44)) with (/ 17592186044416). lra. }
  pose proof (Rabs_pos (rnd16 d - d)).
  assert (E5 : rnd32 (IZR (q - 8) * rnd16 d) - x =
               (rnd32 (IZR (q - 8) * rnd16 d) - IZR (q - 8) * rnd16 d) + IZR (q - 8) * (rnd16 d - d) +
               d * (IZR (q - 8) - x / d)) by (field; lra).
  rewrite E5.
  assert (B2 : Rabs (IZR (q - 8) * (rnd16 d - d)) <= 8 * Rabs (rnd16 d - d)).
  { rewrite Rabs_mult. apply Rmult_le_compat_r; [apply Rabs_pos | exact Hq8]. }
  assert (B3 : Rabs (d * (IZR (q - 8) - x / d)) <=
               d * ((if (Zfloor v <=? 15)%Z then 1 / 2 else 1) + 1 / 32768)).
  { rewrite Rabs_mult, (Rabs_pos_eq d) by lra. apply Rmult_le_compat_l; [lra | exact Hstep]. }
  eapply Rle_trans; [apply Rabs_triang|]. eapply Rle_trans; [apply Rplus_le_compat_r, Rabs_triang|].
  destruct (Zfloor v <=? 15)%Z; lra.
Qed.

(* The other sign: for m = a > 0 the C++ computes d = fp32(m / -8) = -fp32(a / 8), and every later value is the
   exact negation of the m < 0 case applied to -x, so the same bound holds. *)
Theorem q4_0_dequant_pos : forall a x, A4_MIN <= a <= A4_MAX -> Rabs x <= a ->
  let d := rnd32 (a / -8) in let v := rnd32 (rnd32 (x * rnd32 (1 / d)) + 17 / 2) in
  let q := Z.min 15 (Zfloor v) in
  (0 <= q <= 15)%Z /\
  Rabs (rnd32 (IZR (q - 8) * rnd16 d) - x) <=
    (if (Zfloor v <=? 15)%Z then Rabs d / 2 else Rabs d) + 9 * Rabs (rnd16 d - d) + Rabs d / 4096.
Proof.
  intros a x Ha Hx d v q.
  assert (Hx' : Rabs (- x) <= a) by (rewrite Rabs_Ropp; exact Hx).
  destruct (q4_0_dequant a (- x) Ha Hx') as [Hq Hb].
  assert (Hapos : 0 < a) by (unfold A4_MIN in Ha; lra).
  destruct (q4_scale_gappa a Ha) as [_ Hd].
  assert (Ed : d = - rnd32 (a / 8)).
  { unfold d. replace (a / -8) with (- (a / 8)) by (field; lra). apply round_NE_opp. }
  assert (Ev : v = rnd32 (rnd32 (- x * rnd32 (1 / rnd32 (a / 8))) + 17 / 2)).
  { unfold v. rewrite Ed. replace (1 / - rnd32 (a / 8)) with (- (1 / rnd32 (a / 8))) by (field; lra).
    rewrite round_NE_opp. replace (x * - rnd32 (1 / rnd32 (a / 8))) with (- x * rnd32 (1 / rnd32 (a / 8))) by ring.
    reflexivity. }
  unfold q. rewrite Ev. split; [exact Hq|].
  rewrite Ed, round_NE_opp, Rabs_Ropp, (Rabs_pos_eq (rnd32 (a / 8))) by lra.
  replace (IZR (Z.min 15 (Zfloor (rnd32 (rnd32 (- x * rnd32 (1 / rnd32 (a / 8))) + 17 / 2))) - 8) *
             - rnd16 (rnd32 (a / 8)))
    with (- (IZR (Z.min 15 (Zfloor (rnd32 (rnd32 (- x * rnd32 (1 / rnd32 (a / 8))) + 17 / 2))) - 8) *
             rnd16 (rnd32 (a / 8)))) by ring.
  rewrite round_NE_opp.
  replace (- rnd32 (IZR (Z.min 15 (Zfloor (rnd32 (rnd32 (- x * rnd32 (1 / rnd32 (a / 8))) + 17 / 2))) - 8) *
             rnd16 (rnd32 (a / 8))) - x)
    with (- (rnd32 (IZR (Z.min 15 (Zfloor (rnd32 (rnd32 (- x * rnd32 (1 / rnd32 (a / 8))) + 17 / 2))) - 8) *
             rnd16 (rnd32 (a / 8))) - - x)) by ring.
  rewrite Rabs_Ropp.
  replace (- rnd16 (rnd32 (a / 8)) - - rnd32 (a / 8)) with (- (rnd16 (rnd32 (a / 8)) - rnd32 (a / 8))) by ring.
  rewrite Rabs_Ropp. exact Hb.
Qed.

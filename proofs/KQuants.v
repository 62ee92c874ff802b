(* Q4_K x Q8_K (q8_k_dot_avx2.h Avx2Step, q8_k_dot_avx512.h Avx512Step; kq_vec_dot, kq_tile) and the scalar
   reference scale_min_k_vec_dot_ref. One int32 lane takes 4 consecutive quants u (unsigned, 0..15 for Q4_K;
   the theorem allows 0..63, every K-quant's range) and activations x (int8, -128 included: Q8_K may hold it):
     Step::dot : madd_epi16(maddubs_epi16(u, x), scales)   with both int16 scales of the lane = the group's s
   and the mins: kq_coef_lanes = madd_epi16(coef, bsums), coef = (m_g, m_g) for each int32 lane. *)
From Coq Require Import ZArith Lia List Permutation.
Require Import Simd Blocks Kernels.
Import ListNotations.
Open Scope Z_scope.

Definition k_lane (s : Z) (u x : quad) : Z :=
  let '(u0, u1, u2, u3) := u in let '(x0, x1, x2, x3) := x in maddwd (maddubs u0 u1 x0 x1) (maddubs u2 u3 x2 x3) s s.
Definition U63 (z : Z) : Prop := 0 <= z <= 63.

Lemma k_lane_exact : forall s u x, U63 s -> qall U63 u -> qall I8 x -> k_lane s u x = s * qdot u x.
Proof.
  intros s [[[u0 u1] u2] u3] [[[x0 x1] x2] x3] Hs Hu Hx. unfold qall, U63, I8, k_lane, qdot in *.
  destruct Hu as (A0 & A1 & A2 & A3). destruct Hx as (B0 & B1 & B2 & B3).
  rewrite (maddubs_exact 63 128 u0) by lia. rewrite (maddubs_exact 63 128 u2) by lia.
  assert (P : Z.abs (u0 * x0 + u1 * x1) <= 16128) by nia.
  assert (Q : Z.abs (u2 * x2 + u3 * x3) <= 16128) by nia.
  set (p := u0 * x0 + u1 * x1) in *. set (q := u2 * x2 + u3 * x3) in *.
  unfold maddwd. rewrite wrap32_small by nia. unfold p, q. ring.
Qed.

(* A chunk: the group scale s and its quads (8 quads = 32 values for Q4_K's groups of 32). *)
Definition chunk := (Z * list quad * list quad)%type.
Definition chunk_lanes (c : chunk) : list Z := let '(s, u, x) := c in lanes (k_lane s) u x.
Definition chunk_ref (c : chunk) : Z := let '(s, u, x) := c in s * dot (flat4 u) (flat4 x).
Definition chunk_ok (c : chunk) : Prop :=
  let '(s, u, x) := c in U63 s /\ Forall (qall U63) u /\ Forall (qall I8) x /\ length u = length x /\
  Z.of_nat (length u) <= 8.

Lemma chunk_lanes_exact : forall c, chunk_ok c ->
  sum (chunk_lanes c) = chunk_ref c /\ abs_sum (chunk_lanes c) <= 8 * (63 * (4 * (63 * 128))).
Proof.
  intros [[s u] x] (Hs & Hu & Hx & Hl & Hn). unfold chunk_lanes, chunk_ref.
  assert (E : lanes (k_lane s) u x = map (fun p => s * qdot (fst p) (snd p)) (combine u x)).
  { unfold lanes. apply map_ext_in. intros p Hin. destruct (in_combine_forall _ _ _ _ _ Hu Hx Hin).
    apply k_lane_exact; assumption. }
  rewrite E. split.
  - rewrite sum_map_scale, dot_flat4 by assumption. reflexivity.
  - eapply Z.le_trans; [apply abs_sum_map_le with (B := 63 * (4 * (63 * 128)))|].
    + intros p Hin. destruct (in_combine_forall _ _ _ _ _ Hu Hx Hin).
      rewrite Z.abs_mul. unfold U63 in Hs. rewrite (Z.abs_eq s) by lia.
      apply Z.mul_le_mono_nonneg; try lia; try apply Z.abs_nonneg. apply qdot_bound.
      * eapply qall_abs; [|eassumption]. unfold U63. intros; lia.
      * eapply qall_abs; [|eassumption]. unfold I8. intros; lia.
    + pose proof (length_combine_le u x). nia.
Qed.

Lemma concat_lanes_bound : forall cs, Forall chunk_ok cs ->
  sum (concat (map chunk_lanes cs)) = sum (map chunk_ref cs) /\
  abs_sum (concat (map chunk_lanes cs)) <= Z.of_nat (length cs) * (8 * (63 * (4 * (63 * 128)))).
Proof.
  induction cs as [|c cs IH]; intros H; [cbn; unfold sum, abs_sum; cbn; lia|].
  inversion H as [|? ? Hc Hcs]; subst. destruct (IH Hcs) as [E B]. destruct (chunk_lanes_exact c Hc) as [E1 B1].
  cbn [map concat length]. rewrite sum_app, abs_sum_app, E, E1. unfold sum at 2. cbn [fold_right].
  split; [reflexivity|]. rewrite Nat2Z.inj_succ. lia.
Qed.

(* isum of a super-block (8 chunks of 32 values for Q4_K; the proof allows 16 chunks of at most 32 values, the
   groups of 16 of Q3_K/Q6_K): every arrangement and every order of the int32 adds gives sum_g s_g * dot_g, the
   reference's isum. *)
Theorem kq_isum_exact : forall cs t, Forall chunk_ok cs -> Z.of_nat (length cs) <= 16 ->
  Permutation (leaves t) (concat (map chunk_lanes cs)) -> eval_wrap t = sum (map chunk_ref cs).
Proof.
  intros cs t H Hn P. destruct (concat_lanes_bound cs H) as [E B].
  rewrite (reduce_any_order t _ P); [exact E|]. unfold INT32_MAX. nia.
Qed.

(* The min term: kq_coef_lanes = madd_epi16(coef, bsums) with coef = (m, m) per int32 lane; the bsums of Q8_K
   are group sums of 16 int8, so |b| <= 2048. *)
Definition coef_lane (m b0 b1 : Z) : Z := maddwd m m b0 b1.
Lemma coef_lane_exact : forall m b0 b1, U63 m -> Z.abs b0 <= 2048 -> Z.abs b1 <= 2048 ->
  coef_lane m b0 b1 = m * (b0 + b1).
Proof. intros. unfold coef_lane, maddwd, U63 in *. rewrite wrap32_small by nia. ring. Qed.

(* The scalar reference's int32s: gs = sum of 32 products, isum += sc * gs, msum += m * (bsum + bsum); all
   bounded far inside int32: |gs| <= 32*63*128, |isum| <= 8*63*32*63*128 < 2^31 - 1 and |msum| <= 8*63*4096. *)
Lemma reference_bounds : 32 * 63 * 128 <= INT32_MAX /\ 8 * 63 * (32 * 63 * 128) <= INT32_MAX /\
  8 * 63 * 4096 <= INT32_MAX.
Proof. unfold INT32_MAX. lia. Qed.

(* ==== The packed VNNI gemm (q8_k_packed_avx512.h kpacked_tile) ====
   Per group: gs = vpdpbusd chain from 0 over the group's quads (u unsigned, x signed); isum = add_epi32(isum,
   mullo_epi32(gs, s_g)) over the groups; the min term c = vpdpwssd chain over (coef pair, bsums pair). *)
Definition packed_isum (cs : list chunk) : Z :=
  fold_left (fun acc c => let '(s, u, x) := c in wrap32 (acc + wrap32 (s * chain 0 u x))) cs 0.

Theorem kq_packed_isum_exact : forall cs, Forall chunk_ok cs -> Z.of_nat (length cs) <= 16 ->
  packed_isum cs = sum (map chunk_ref cs).
Proof.
  intros cs H Hn. unfold packed_isum.
  assert (E : forall acc, fold_left (fun acc c => let '(s, u, x) := c in wrap32 (acc + wrap32 (s * chain 0 u x))) cs acc
            = fold_left (fun acc c => wrap32 (acc + chunk_ref c)) cs acc).
  { induction cs as [|[[s u] x] cs IH]; intros acc; [reflexivity|]. cbn [fold_left].
    inversion H as [|? ? Hc Hcs]; subst. cbn [length] in Hn. rewrite IH by (try assumption; lia).
    f_equal. f_equal. f_equal.
    pose proof Hc as Hc'. destruct Hc' as (Hs & Hu & Hx & Hl & Hq).
    unfold chunk_ref.
    assert (Hk : lanes (k_lane s) u x = map (fun p => s * qdot (fst p) (snd p)) (combine u x)).
    { unfold lanes. apply map_ext_in. intros p Hin. destruct (in_combine_forall _ _ _ _ _ Hu Hx Hin).
      apply k_lane_exact; assumption. }
    assert (Hb : abs_sum (lanes qdot u x) <= 8 * (4 * (63 * 128))).
    { eapply Z.le_trans; [apply abs_sum_map_le with (B := 4 * (63 * 128))|].
      - intros p Hin. destruct (in_combine_forall _ _ _ _ _ Hu Hx Hin). apply qdot_bound.
        + eapply qall_abs; [|eassumption]. unfold U63. intros; lia.
        + eapply qall_abs; [|eassumption]. unfold I8. intros; lia.
      - pose proof (length_combine_le u x). nia. }
    rewrite chain_exact by (unfold INT32_MAX; cbn [Z.abs]; lia).
    rewrite dot_flat4 by assumption. rewrite Z.add_0_l.
    pose proof (abs_sum_bound (lanes qdot u x)). unfold U63 in Hs.
    apply wrap32_small. nia. }
  rewrite E. destruct (concat_lanes_bound cs H) as [_ B].
  rewrite (wrap_fold chunk_ref cs 0).
  - lia.
  - assert (abs_sum (map chunk_ref cs) <= abs_sum (concat (map chunk_lanes cs))).
    { clear E B Hn. induction cs as [|c cs IH]; [cbn; lia|]. inversion H as [|? ? Hc Hcs]; subst.
      cbn [map concat]. rewrite abs_sum_app. unfold abs_sum at 1. cbn [fold_right]. fold (abs_sum (map chunk_ref cs)).
      destruct (chunk_lanes_exact c Hc) as [Ec _]. rewrite <- Ec.
      pose proof (abs_sum_bound (chunk_lanes c)). specialize (IH Hcs). lia. }
    unfold INT32_MAX. cbn [Z.abs]. nia.
Qed.

(* vpdpwssd (one int32 lane): acc + a0 * b0 + a1 * b1 on int16, wrapped; the min term's chain is exact. *)
Definition dpwssd (acc a0 a1 b0 b1 : Z) : Z := wrap32 (acc + a0 * b0 + a1 * b1).
Theorem coef_chain_exact : forall (l : list quad) acc,
  Forall (fun q => let '(m0, m1, b0, b1) := q in U63 m0 /\ U63 m1 /\ Z.abs b0 <= 2048 /\ Z.abs b1 <= 2048) l ->
  Z.of_nat (length l) <= 8 -> Z.abs acc <= 1048576 ->
  fold_left (fun s q => let '(m0, m1, b0, b1) := q in dpwssd s m0 m1 b0 b1) l acc =
  acc + sum (map (fun q => let '(m0, m1, b0, b1) := q in m0 * b0 + m1 * b1) l).
Proof.
  intros l acc H Hn Ha.
  assert (E : forall l' s, fold_left (fun s q => let '(m0, m1, b0, b1) := q in dpwssd s m0 m1 b0 b1) l' s =
    fold_left (fun s q => wrap32 (s + (let '(m0, m1, b0, b1) := q in m0 * b0 + m1 * b1))) l' s).
  { induction l' as [|[[[m0 m1] b0] b1] l' IH]; intros; [reflexivity|]. cbn [fold_left]. rewrite IH.
    unfold dpwssd. do 2 f_equal. ring. }
  rewrite E. apply wrap_fold.
  eapply Z.le_trans; [apply Z.add_le_mono_l; apply abs_sum_map_le with (B := 2 * (63 * 2048))|].
  - intros [[[m0 m1] b0] b1] Hin. rewrite Forall_forall in H. destruct (H _ Hin) as (A & B & C & D).
    unfold U63 in *.
    assert (Z.abs (m0 * b0) <= 63 * 2048) by (apply mul_abs_le; lia).
    assert (Z.abs (m1 * b1) <= 63 * 2048) by (apply mul_abs_le; lia).
    lia.
  - unfold INT32_MAX, quad in *. lia.
Qed.

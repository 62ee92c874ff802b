(* The dot kernels of src/quant, one block (or super-block) at a time. Each model names the C++ it stands for;
   the theorems say the instruction sequence gives the reference's integer for every input of the domain, with
   every int16 and int32 on the way exact (no saturation, no wrap). *)
From Coq Require Import ZArith Lia List Permutation.
Require Import Simd Blocks.
Import ListNotations.
Open Scope Z_scope.

(* ==== Q8_0 x Q8_0 and Q4_0 x Q8_0: the sign trick (q8_dot_avx2.h MaddDot, q8_dot_avx512.h VnniDot) ====
   One int32 lane takes 4 consecutive bytes w0..w3 (weights, int8) and x0..x3 (activations, int8):
     MaddDot::lanes : madd_epi16(maddubs_epi16(sign(w, w), sign(x, w)), set1_epi16(1))
     VnniDot::lanes : dpbusd_epi32(0, sign(w, w), sign(x, w))
   and q8_vec_dot_avx2<W, D> / q8_tile_avx2 reduce a block's 8 lanes with hsum_epi32 or reduce8_epi32. *)
Definition madd_lane (w x : quad) : Z :=
  let '(w0, w1, w2, w3) := w in let '(x0, x1, x2, x3) := x in
  maddwd (maddubs (u8 (sign8 w0 w0)) (u8 (sign8 w1 w1)) (sign8 x0 w0) (sign8 x1 w1))
         (maddubs (u8 (sign8 w2 w2)) (u8 (sign8 w3 w3)) (sign8 x2 w2) (sign8 x3 w3)) 1 1.
Definition vnni_lane (w x : quad) : Z :=
  let '(w0, w1, w2, w3) := w in let '(x0, x1, x2, x3) := x in
  dpbusd 0 (u8 (sign8 w0 w0)) (u8 (sign8 w1 w1)) (u8 (sign8 w2 w2)) (u8 (sign8 w3 w3))
           (sign8 x0 w0) (sign8 x1 w1) (sign8 x2 w2) (sign8 x3 w3).

Lemma madd_lane_exact : forall w x, qall I8 w -> qall X8 x -> madd_lane w x = qdot w x.
Proof.
  intros [[[w0 w1] w2] w3] [[[x0 x1] x2] x3] Hw Hx. unfold qall, I8, X8, madd_lane, qdot in *.
  destruct Hw as (A0 & A1 & A2 & A3). destruct Hx as (B0 & B1 & B2 & B3).
  destruct (sign_trick w0 x0 A0 B0) as (E0 & U0 & S0). destruct (sign_trick w1 x1 A1 B1) as (E1 & U1 & S1).
  destruct (sign_trick w2 x2 A2 B2) as (E2 & U2 & S2). destruct (sign_trick w3 x3 A3 B3) as (E3 & U3 & S3).
  rewrite (maddubs_exact 128 127) by lia. rewrite (maddubs_exact 128 127 (u8 (sign8 w2 w2))) by lia.
  rewrite E0, E1, E2, E3. unfold maddwd. rewrite wrap32_small by nia. ring.
Qed.

Lemma vnni_lane_exact : forall w x, qall I8 w -> qall X8 x -> vnni_lane w x = qdot w x.
Proof.
  intros [[[w0 w1] w2] w3] [[[x0 x1] x2] x3] Hw Hx. unfold qall, I8, X8, vnni_lane, qdot in *.
  destruct Hw as (A0 & A1 & A2 & A3). destruct Hx as (B0 & B1 & B2 & B3).
  destruct (sign_trick w0 x0 A0 B0) as (E0 & U0 & S0). destruct (sign_trick w1 x1 A1 B1) as (E1 & U1 & S1).
  destruct (sign_trick w2 x2 A2 B2) as (E2 & U2 & S2). destruct (sign_trick w3 x3 A3 B3) as (E3 & U3 & S3).
  unfold dpbusd. rewrite E0, E1, E2, E3. rewrite wrap32_small by nia. ring.
Qed.

Lemma qall_abs : forall (P : Z -> Prop) A q, (forall z, P z -> Z.abs z <= A) -> qall P q -> qall (fun z => Z.abs z <= A) q.
Proof. intros P A [[[a b] c] d] H Hq. unfold qall in *. intuition. Qed.

(* The lanes of a block (or of several blocks) sum, in any reduction order, to the reference dot. *)
Lemma lanes_exact_sum : forall (f : quad -> quad -> Z) w x,
  (forall a b, qall I8 a -> qall X8 b -> f a b = qdot a b) ->
  Forall (qall I8) w -> Forall (qall X8) x -> length w = length x ->
  lanes f w x = lanes qdot w x.
Proof.
  intros f w x Hf Hw Hx Hl. unfold lanes. apply map_ext_in. intros p Hin.
  destruct (in_combine_forall _ _ _ _ _ Hw Hx Hin). apply Hf; assumption.
Qed.

Lemma block_abs_bound : forall w x, Forall (qall I8) w -> Forall (qall I8) x ->
  abs_sum (lanes qdot w x) <= Z.of_nat (length (combine w x)) * (4 * (128 * 128)).
Proof.
  intros w x Hw Hx. apply abs_sum_map_le. intros p Hin.
  destruct (in_combine_forall _ _ _ _ _ Hw Hx Hin). apply qdot_bound; eapply qall_abs; eauto;
  unfold I8; intros; lia.
Qed.

Lemma X8_I8 : forall x, Forall (qall X8) x -> Forall (qall I8) x.
Proof.
  intros x H. eapply Forall_impl; [|exact H]. intros [[[a b] c] d]. unfold qall, X8, I8. lia.
Qed.

(* A Q8_0 block is 8 quads (32 values). Up to 2^12 blocks' lanes may share one reduction (the tiles reduce 8
   outputs' lanes together, one block each): the bound below holds for any number of quads up to 2^14. *)
Theorem q8_0_dot_sign_trick : forall (f : quad -> quad -> Z) w x t,
  (f = madd_lane \/ f = vnni_lane) ->
  Forall (qall I8) w -> Forall (qall X8) x -> length w = length x -> Z.of_nat (length w) <= 16384 ->
  Permutation (leaves t) (lanes f w x) ->
  eval_wrap t = dot (flat4 w) (flat4 x).
Proof.
  intros f w x t Hf Hw Hx Hl Hn P.
  assert (E : lanes f w x = lanes qdot w x).
  { apply lanes_exact_sum; auto. destruct Hf; subst; [exact madd_lane_exact | exact vnni_lane_exact]. }
  rewrite E in P. rewrite dot_flat4 by assumption.
  apply reduce_any_order; [assumption|].
  eapply Z.le_trans; [apply block_abs_bound; auto using X8_I8|].
  pose proof (length_combine_le w x). unfold INT32_MAX. lia.
Qed.

(* The Q4_0 weights these kernels see: Q4Weights::load_values gives (nibble - 8), in [-8, 7] (Simd.nibbles:
   the and/srli_epi16 unpacking gives the low and high nibble of every byte). *)
Corollary q4_0_dot_sign_trick : forall (f : quad -> quad -> Z) w x t,
  (f = madd_lane \/ f = vnni_lane) ->
  Forall (qall (fun z => -8 <= z <= 7)) w -> Forall (qall X8) x -> length w = length x -> Z.of_nat (length w) <= 16384 ->
  Permutation (leaves t) (lanes f w x) -> eval_wrap t = dot (flat4 w) (flat4 x).
Proof.
  intros. eapply q8_0_dot_sign_trick; eauto.
  eapply Forall_impl; [|eassumption]. intros [[[a b] c] d]. unfold qall, I8. lia.
Qed.

(* ==== The scalar references: q8_0_vec_dot_ref / q4_0_vec_dot_ref's `isum += w * x` in int32 ==== *)
Theorem scalar_block_dot_no_overflow : forall w x, Forall (qall I8) w -> Forall (qall I8) x ->
  length w = length x -> Z.of_nat (length w) <= 16384 ->
  fold_left (fun acc p => wrap32 (acc + qdot (fst p) (snd p))) (combine w x) 0 = dot (flat4 w) (flat4 x).
Proof.
  intros w x Hw Hx Hl Hn. rewrite (wrap_fold (fun p => qdot (fst p) (snd p))).
  - rewrite dot_flat4 by assumption. reflexivity.
  - pose proof (block_abs_bound w x Hw Hx). unfold lanes in H. pose proof (length_combine_le w x).
    unfold INT32_MAX. cbn [Z.abs]. lia.
Qed.

(* ==== The offset form (q8_dot_avx512.h: packed_tile, q8_gemm_avx512, Q4Weights::decode_quad) ====
   Weights enter vpdpbusd unsigned, u = w + c (Q8_0: w xor 0x80 = w + 128; Q4_0: the nibble, w + 8), activations
   signed and unchanged (so -128 is fine here), and the accumulator starts from neg_corr = -c * sum(x):
     s = neg_corr; for k in 0..7: s = dpbusd(s, u[4k..4k+3], x[4k..4k+3]). *)
Definition dp_step (s : Z) (u x : quad) : Z :=
  let '(u0, u1, u2, u3) := u in let '(x0, x1, x2, x3) := x in dpbusd s u0 u1 u2 u3 x0 x1 x2 x3.
Definition chain (s : Z) (u x : list quad) : Z := fold_left (fun acc p => dp_step acc (fst p) (snd p)) (combine u x) s.

Lemma dp_step_as_wrap : forall s u x, dp_step s u x = wrap32 (s + qdot u x).
Proof. intros s [[[u0 u1] u2] u3] [[[x0 x1] x2] x3]. unfold dp_step, dpbusd, qdot. f_equal. ring. Qed.

Lemma chain_exact : forall s u x, Z.abs s + abs_sum (lanes qdot u x) <= INT32_MAX ->
  chain s u x = s + sum (lanes qdot u x).
Proof.
  intros s u x H. unfold chain.
  assert (E : forall l s', fold_left (fun acc p => dp_step acc (fst p) (snd p)) l s' =
                           fold_left (fun acc p => wrap32 (acc + qdot (fst p) (snd p))) l s').
  { induction l as [|p l IH]; intros; cbn; [reflexivity|]. rewrite dp_step_as_wrap. apply IH. }
  rewrite E. apply wrap_fold. exact H.
Qed.

Lemma qdot_qadd : forall c w x, qdot (qadd c w) x = qdot w x + c * qsum x.
Proof. intros c [[[a b] d] e] [[[x0 x1] x2] x3]. unfold qdot, qadd, qsum. ring. Qed.

Lemma offset_lanes : forall c w x, length w = length x ->
  sum (lanes qdot (map (qadd c) w) x) = sum (lanes qdot w x) + c * sum (map qsum x).
Proof.
  intros c. induction w as [|q w IH]; intros [|y x] Hl; cbn [length] in Hl; try lia; [unfold lanes, sum; cbn; ring|].
  unfold lanes in *. cbn [map combine fst snd]. unfold sum in *. cbn [fold_right].
  rewrite IH by lia. rewrite qdot_qadd. ring.
Qed.

(* One int32 lane of the offset form runs over n quads of one block from a start s0 (packed_tile: s0 = neg_corr,
   8 quads; decode_quad: s0 = 0, 2 quads, the correction added after; interleaved and VNNI tiles alike). *)
Theorem offset_chain : forall c s0 w x, 0 <= c <= 128 -> Z.abs s0 <= 2 ^ 20 ->
  Forall (qall (fun z => 0 <= z + c <= 255)) w -> Forall (qall I8) x -> length w = length x ->
  Z.of_nat (length w) <= 8 ->
  chain s0 (map (qadd c) w) x = s0 + dot (flat4 w) (flat4 x) + c * sum (flat4 x).
Proof.
  intros c s0 w x Hc Hs0 Hw Hx Hl Hn.
  assert (Hu : Forall (qall (fun z => Z.abs z <= 255)) (map (qadd c) w)).
  { rewrite Forall_map. eapply Forall_impl; [|exact Hw]. intros [[[a b] d] e]. unfold qall, qadd. lia. }
  rewrite chain_exact.
  - rewrite offset_lanes, dot_flat4, sum_flat4 by assumption. ring.
  - eapply Z.le_trans.
    + apply Z.add_le_mono_l. apply abs_sum_map_le with (B := 4 * (255 * 128)). intros p Hin.
      destruct (in_combine_forall _ _ _ _ _ Hu Hx Hin). apply qdot_bound; [assumption|].
      eapply qall_abs; [|eassumption]. unfold I8. intros; lia.
    + pose proof (length_combine_le (map (qadd c) w) x). rewrite map_length in H. unfold INT32_MAX. lia.
Qed.

Lemma sum_x_bound : forall x, Forall (qall I8) x -> Z.of_nat (length x) <= 8 -> Z.abs (sum (flat4 x)) <= 4096.
Proof.
  intros x Hx Hn. rewrite sum_flat4. eapply Z.le_trans; [apply abs_sum_bound|].
  eapply Z.le_trans; [apply abs_sum_map_le with (B := 512)|].
  - intros [[[a b] c] d] Hin. rewrite Forall_forall in Hx. specialize (Hx _ Hin). unfold qall, I8, qsum in *. lia.
  - lia.
Qed.

Lemma ones_lanes : forall x, lanes qdot (map (fun _ => (1, 1, 1, 1)) x) x = map qsum x.
Proof.
  induction x as [|[[[a b] c] d] x IH]; [reflexivity|]. unfold lanes in *. cbn [map combine fst snd].
  rewrite IH. f_equal. unfold qdot, qsum. ring.
Qed.

(* neg_corr = -c * sum(x), where sum(x) is itself a dpbusd of all-ones bytes with x (q8_dot_avx512.h). *)
Corollary ones_chain_is_sum : forall x, Forall (qall I8) x -> Z.of_nat (length x) <= 8 ->
  chain 0 (map (fun _ => (1, 1, 1, 1)) x) x = sum (flat4 x).
Proof.
  intros x Hx Hn. rewrite chain_exact; rewrite ones_lanes.
  - rewrite sum_flat4. ring.
  - eapply Z.le_trans; [apply Z.add_le_mono_l; apply abs_sum_map_le with (B := 512)|].
    + intros [[[a b] c] d] Hin. rewrite Forall_forall in Hx. specialize (Hx _ Hin). unfold qall, I8, qsum in *. lia.
    + unfold INT32_MAX. cbn [Z.abs]. lia.
Qed.

(* Q8_0 in the offset form: the weight bytes xor 0x80 are w + 128 (Simd.xor80_offset), c = 128; Q4_0: the
   nibbles are w + 8, c = 8. *)
Corollary offset_block : forall c w x, 0 <= c <= 128 ->
  Forall (qall (fun z => 0 <= z + c <= 255)) w -> Forall (qall I8) x -> length w = length x ->
  Z.of_nat (length w) <= 8 ->
  chain (- c * sum (flat4 x)) (map (qadd c) w) x = dot (flat4 w) (flat4 x).
Proof.
  intros c w x Hc Hw Hx Hl Hn. pose proof (sum_x_bound x Hx ltac:(lia)) as Hb.
  rewrite offset_chain; try assumption; [ring|].
  rewrite Z.abs_mul. rewrite Z.abs_opp, (Z.abs_eq c) by lia. nia.
Qed.

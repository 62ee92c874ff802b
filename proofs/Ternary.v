(* TQ2_0 / TQ1_0 x Q8_K (ternary_avx2.h ternary_block_lanes, ternary_avx512.h ternary_block_lanes512 and
   ternary_packed_tile; reference ternary_block_dot), and the trit codecs of tq1_0.cpp / tq2_0.cpp.
   Trits t are 0..3 as the kernels see them (3 cannot come from the quantizer but a file may hold it). *)
From Coq Require Import ZArith Lia List Permutation.
Require Import Simd Blocks Kernels.
Import ListNotations.
Open Scope Z_scope.

Definition T3 (z : Z) : Prop := 0 <= z <= 3.

(* ==== AVX2: one int16 lane ====
   acc = maddubs(t[c], x[c]) for chunk c = 0, then acc = add_epi16(acc, maddubs(t[c], x[c])) for c = 1..7,
   then acc = sub_epi16(acc, bsums); an int16 lane meets one pair (t0, t1, x0, x1) per chunk. *)
Definition pair_mb (p : quad) : Z := let '(t0, t1, x0, x1) := p in maddubs t0 t1 x0 x1.
Definition pair_dot (p : quad) : Z := let '(t0, t1, x0, x1) := p in t0 * x0 + t1 * x1.
Definition pair_ok (p : quad) : Prop := let '(t0, t1, x0, x1) := p in T3 t0 /\ T3 t1 /\ I8 x0 /\ I8 x1.
Definition lane16 (ps : list quad) (b : Z) : Z :=
  wrap16 (fold_left (fun acc p => wrap16 (acc + pair_mb p)) ps 0 - b).

Lemma pair_mb_exact : forall p, pair_ok p -> pair_mb p = pair_dot p /\ Z.abs (pair_dot p) <= 768.
Proof.
  intros [[[t0 t1] x0] x1] H. unfold pair_ok, T3, I8, pair_mb, pair_dot in *.
  rewrite (maddubs_exact 3 128) by lia. split; [reflexivity|]. nia.
Qed.

Lemma fold16 : forall ps s, Forall pair_ok ps -> Z.abs s + 768 * Z.of_nat (length ps) <= 32767 ->
  fold_left (fun acc p => wrap16 (acc + pair_mb p)) ps s = s + sum (map pair_dot ps).
Proof.
  induction ps as [|p ps IH]; intros s H B; cbn [fold_left map length] in *; [unfold sum; cbn; lia|].
  inversion H as [|? ? Hp Hps]; subst. destruct (pair_mb_exact p Hp) as [E Bp].
  rewrite E, wrap16_small by lia. rewrite IH by (try assumption; lia). unfold sum. cbn [fold_right]. lia.
Qed.

Theorem lane16_exact : forall ps b, Forall pair_ok ps -> Z.of_nat (length ps) <= 8 -> Z.abs b <= 2048 ->
  lane16 ps b = sum (map pair_dot ps) - b.
Proof.
  intros ps b H Hn Hb. unfold lane16. rewrite fold16 by (try assumption; lia).
  assert (Z.abs (sum (map pair_dot ps)) <= 768 * Z.of_nat (length ps)).
  { eapply Z.le_trans; [apply abs_sum_bound|]. rewrite Z.mul_comm.
    apply abs_sum_map_le. intros p Hin.
    rewrite Forall_forall in H. apply (pair_mb_exact p (H p Hin)). }
  rewrite wrap16_small by nia. lia.
Qed.

(* Then madd_epi16(acc, 1) sums int16 lanes in pairs (exact: Simd.maddwd_exact) and the int32 lanes are reduced
   in any order (Blocks.reduce_any_order). The whole super-block: 16 int16 lanes, each 8 pairs and one bsum. *)
Definition lane16s (ls : list (list quad * Z)) : list Z := map (fun l => lane16 (fst l) (snd l)) ls.
Definition lane_ok (l : list quad * Z) : Prop :=
  Forall pair_ok (fst l) /\ Z.of_nat (length (fst l)) <= 8 /\ Z.abs (snd l) <= 2048.

Theorem tq_avx2_block : forall ls t, Forall lane_ok ls -> Z.of_nat (length ls) <= 16 ->
  Permutation (leaves t) (lane16s ls) ->
  eval_wrap t = sum (map pair_dot (concat (map fst ls))) - sum (map snd ls).
Proof.
  intros ls t H Hn P.
  assert (E : lane16s ls = map (fun l => sum (map pair_dot (fst l)) - snd l) ls).
  { unfold lane16s. apply map_ext_in. intros l Hin. rewrite Forall_forall in H.
    destruct (H l Hin) as (A & B & C). apply lane16_exact; assumption. }
  assert (Bd : forall l, In l ls -> Z.abs (sum (map pair_dot (fst l)) - snd l) <= 8192).
  { intros l Hin. rewrite Forall_forall in H. destruct (H l Hin) as (A & B & C).
    rewrite <- (lane16_exact _ _ A B C). rewrite (lane16_exact _ _ A B C).
    assert (Z.abs (sum (map pair_dot (fst l))) <= 768 * Z.of_nat (length (fst l))).
    { eapply Z.le_trans; [apply abs_sum_bound|]. rewrite Z.mul_comm.
      apply abs_sum_map_le. intros p Hp.
      rewrite Forall_forall in A. apply (pair_mb_exact p (A p Hp)). }
    lia. }
  rewrite (reduce_any_order t _ P).
  - rewrite E. clear. induction ls as [|l ls IH]; [reflexivity|]. cbn [map concat].
    rewrite map_app, sum_app. unfold sum in *. cbn [fold_right]. rewrite IH. ring.
  - rewrite E. eapply Z.le_trans; [apply abs_sum_map_le with (B := 8192); exact Bd|]. unfold INT32_MAX. lia.
Qed.

(* With the bsums the group sums of the same activations (q8_k_from_float), the result is the reference's
   sum of (t - 1) * x. *)
Corollary tq_avx2_block_ref : forall ls t, Forall lane_ok ls -> Z.of_nat (length ls) <= 16 ->
  Permutation (leaves t) (lane16s ls) ->
  sum (map snd ls) = sum (map (fun p => let '(_, _, x0, x1) := p in x0 + x1) (concat (map fst ls))) ->
  eval_wrap t = sum (map (fun p => let '(t0, t1, x0, x1) := p in (t0 - 1) * x0 + (t1 - 1) * x1)
                         (concat (map fst ls))).
Proof.
  intros ls t H Hn P Hb. rewrite (tq_avx2_block ls t H Hn P), Hb. generalize (concat (map fst ls)). clear.
  induction l as [|[[[t0 t1] x0] x1] l IH]; [reflexivity|]. unfold sum in *. cbn [map fold_right].
  rewrite <- IH. unfold pair_dot. ring.
Qed.

(* ==== AVX-512 VNNI: one int32 lane starts from minus an activation sum (a bsum in ternary_block_lanes512, 4
   quads; the whole block's sum in ternary_packed_tile, 64 quads) and takes vpdpbusd (t unsigned, x signed) ==== *)
Theorem tq_vnni_lane : forall b ts xs, Forall (qall T3) ts -> Forall (qall I8) xs -> length ts = length xs ->
  Z.of_nat (length ts) <= 64 -> Z.abs b <= 1048576 ->
  chain (- b) ts xs = - b + dot (flat4 ts) (flat4 xs).
Proof.
  intros b ts xs Ht Hx Hl Hn Hb. rewrite chain_exact.
  - rewrite dot_flat4 by assumption. reflexivity.
  - eapply Z.le_trans; [apply Z.add_le_mono_l; apply abs_sum_map_le with (B := 4 * (3 * 128))|].
    + intros p Hin. destruct (in_combine_forall _ _ _ _ _ Ht Hx Hin). apply qdot_bound.
      * eapply qall_abs; [|eassumption]. unfold T3. intros; lia.
      * eapply qall_abs; [|eassumption]. unfold I8. intros; lia.
    + pose proof (length_combine_le ts xs). rewrite Z.abs_opp. unfold INT32_MAX. lia.
Qed.

(* ==== The trit codecs ==== *)
(* tq1_0.cpp pack_trits: q = uint8(q * 3 + t) per trit (most significant first), one more * 3 for 4 trits,
   then uint8((q * 256 + 242) / 243); trit_of(byte, k) = (uint8(byte * 3^k) * 3) >> 8. *)
Definition pack_trits (ts : list Z) : Z :=
  let q := fold_left (fun q t => (q * 3 + t) mod 256) ts 0 in
  let q := if (length ts =? 4)%nat then (q * 3) mod 256 else q in
  ((q * 256 + 242) / 243) mod 256.
Definition trit_of (byte k : Z) : Z := (((byte * 3 ^ k) mod 256) * 3) / 256.

Definition trits := [0; 1; 2].
Definition all5 := flat_map (fun a => flat_map (fun b => flat_map (fun c => flat_map (fun d =>
  map (fun e => [a; b; c; d; e]) trits) trits) trits) trits) trits.
Definition all4 := flat_map (fun a => flat_map (fun b => flat_map (fun c =>
  map (fun d => [a; b; c; d]) trits) trits) trits) trits.
Definition roundtrip (ts : list Z) : bool :=
  let q := pack_trits ts in
  forallb (fun k => trit_of q (Z.of_nat k) =? nth k ts 0) (seq 0 (length ts)).

Theorem tq1_0_codec : forall a b c d e, In a trits -> In b trits -> In c trits -> In d trits -> In e trits ->
  roundtrip [a; b; c; d; e] = true /\ roundtrip [a; b; c; d] = true.
Proof.
  intros a b c d e Ha Hb Hc Hd He. unfold trits in *.
  destruct Ha as [<-|[<-|[<-|[]]]]; destruct Hb as [<-|[<-|[<-|[]]]]; destruct Hc as [<-|[<-|[<-|[]]]];
    destruct Hd as [<-|[<-|[<-|[]]]]; destruct He as [<-|[<-|[<-|[]]]]; split; vm_compute; reflexivity.
Qed.

(* tq2_0.cpp: q |= (t & 3) << 2l for l = 0..3; tq2_0_unpack: (q >> 2l) & 3. *)
Definition pack2 (ts : list Z) : Z :=
  fold_left (fun q lt => Z.lor q (Z.shiftl (Z.land (snd lt) 3) (2 * fst lt))) (combine [0; 1; 2; 3] ts) 0.
Definition roundtrip2 (ts : list Z) : bool :=
  forallb (fun l => Z.land (Z.shiftr (pack2 ts) (2 * Z.of_nat l)) 3 =? nth l ts 0) (seq 0 4).
Theorem tq2_0_codec : forallb roundtrip2 all4 = true.
Proof. vm_compute. reflexivity. Qed.

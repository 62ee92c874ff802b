(* The x86 integer SIMD instructions the quantized dot kernels use, modelled per lane on Z, and the lane-level
   facts the kernels rely on. Every name below is one instruction (or one C++ intrinsic) of src/quant:

     psignb     _mm256_sign_epi8(a, b)       : a if b > 0, 0 if b = 0, -a wrapped to int8 if b < 0
     pmaddubsw  _mm256_maddubs_epi16(u, s)   : u unsigned bytes, s signed; pairs summed, saturated to int16
     pmaddwd    _mm256_madd_epi16(a, b)      : int16 pairs multiplied and summed into int32 (wraps; never
                                               saturates except for the one case -32768 * -32768 * 2)
     vpdpbusd   _mm256/_mm512_dpbusd_epi32   : acc + four u8 * s8 products, wrapped to int32 (no saturation)
     paddd/phaddd, paddw/psubw               : wrapping int32 / int16 adds
     pxor 0x80  _mm512_xor_si512(v, -128)    : the bits of an int8 w read as the uint8 w + 128

   A byte register holds bits; we say which reading (signed int8 or unsigned uint8) each instruction applies. *)
From Coq Require Import ZArith Znumtheory Lia List Bool.
Import ListNotations.
Open Scope Z_scope.

(* Two's complement wrap-around of an integer to n bits, and saturation to int16. *)
Definition wrap (bits : Z) (z : Z) : Z := (z + 2 ^ (bits - 1)) mod 2 ^ bits - 2 ^ (bits - 1).
Definition wrap8 := wrap 8.
Definition wrap16 := wrap 16.
Definition wrap32 := wrap 32.
Definition sat16 (z : Z) : Z := Z.max (-32768) (Z.min 32767 z).
(* The unsigned reading of the bits of a signed byte. *)
Definition u8 (z : Z) : Z := z mod 256.

Definition in_range (lo hi z : Z) : Prop := lo <= z <= hi.

Lemma wrap_small : forall bits z, 0 < bits -> - 2 ^ (bits - 1) <= z < 2 ^ (bits - 1) -> wrap bits z = z.
Proof.
  intros bits z Hb Hz. unfold wrap.
  assert (E : 2 ^ bits = 2 * 2 ^ (bits - 1)).
  { replace bits with (Z.succ (bits - 1)) at 1 by lia. rewrite Z.pow_succ_r by lia. lia. }
  rewrite Z.mod_small; lia.
Qed.

Lemma wrap32_small : forall z, -2147483648 <= z <= 2147483647 -> wrap32 z = z.
Proof. intros. apply wrap_small; cbn; lia. Qed.
Lemma wrap16_small : forall z, -32768 <= z <= 32767 -> wrap16 z = z.
Proof. intros. apply wrap_small; cbn; lia. Qed.
Lemma wrap8_small : forall z, -128 <= z <= 127 -> wrap8 z = z.
Proof. intros. apply wrap_small; cbn; lia. Qed.
Lemma sat16_small : forall z, -32768 <= z <= 32767 -> sat16 z = z.
Proof. intros. unfold sat16. lia. Qed.

(* ---- psignb ---- *)
Definition sign8 (a b : Z) : Z := if b <? 0 then wrap8 (- a) else if b =? 0 then 0 else a.

(* The |w| of the kernels is sign(w, w); read unsigned it is |w| even for w = -128 (whose negation wraps to
   -128, the bits of 128). *)
Lemma abs_trick : forall w, -128 <= w <= 127 -> u8 (sign8 w w) = Z.abs w.
Proof.
  intros w Hw. unfold sign8, u8.
  destruct (Z.ltb_spec w 0).
  - destruct (Z.eq_dec w (-128)) as [->|Hne].
    + reflexivity.
    + rewrite wrap8_small by lia. rewrite Z.mod_small; lia.
  - destruct (Z.eqb_spec w 0); [subst; reflexivity|]. rewrite Z.mod_small; lia.
Qed.

(* The sign trick of MaddDot/VnniDot: |w| (unsigned) times sign(x, w) (signed) is w * x, for every int8 w and
   every x in [-127, 127]. *)
Lemma sign_trick : forall w x, -128 <= w <= 127 -> -127 <= x <= 127 ->
  u8 (sign8 w w) * sign8 x w = w * x /\ 0 <= u8 (sign8 w w) <= 128 /\ -127 <= sign8 x w <= 127.
Proof.
  intros w x Hw Hx. rewrite abs_trick by lia. unfold sign8.
  destruct (Z.ltb_spec w 0).
  - rewrite wrap8_small by lia. split; [|split]; lia.
  - destruct (Z.eqb_spec w 0); [subst; lia|]. split; [|split]; lia.
Qed.

(* ... and it fails for x = -128: why the kernels need activations in [-127, 127] (q8_0_from_float produces
   them whenever the block's fp16 scale is nonzero; see README). *)
Lemma sign_trick_needs_x_gt_minus128 : u8 (sign8 (-1) (-1)) * sign8 (-128) (-1) <> (-1) * (-128).
Proof. vm_compute. discriminate. Qed.

(* ---- pmaddubsw ---- *)
Definition maddubs (u0 u1 s0 s1 : Z) : Z := sat16 (u0 * s0 + u1 * s1).

Lemma maddubs_exact : forall U S u0 u1 s0 s1,
  0 <= u0 <= U -> 0 <= u1 <= U -> -S <= s0 <= S -> -S <= s1 <= S -> 2 * U * S <= 32767 ->
  maddubs u0 u1 s0 s1 = u0 * s0 + u1 * s1.
Proof. intros. unfold maddubs. apply sat16_small. nia. Qed.

(* It does saturate in general: 255 * 127 * 2 > 32767. *)
Lemma maddubs_saturates : maddubs 255 255 127 127 = 32767.
Proof. reflexivity. Qed.

(* ---- pmaddwd ---- *)
Definition maddwd (a0 a1 b0 b1 : Z) : Z := wrap32 (a0 * b0 + a1 * b1).

Lemma maddwd_exact : forall a0 a1 b0 b1, -32768 <= a0 <= 32767 -> -32768 <= a1 <= 32767 ->
  -32768 <= b0 <= 32767 -> -32768 <= b1 <= 32767 -> (a0, a1, b0, b1) <> (-32768, -32768, -32768, -32768) ->
  maddwd a0 a1 b0 b1 = a0 * b0 + a1 * b1.
Proof.
  intros a0 a1 b0 b1 H0 H1 H2 H3 Hne. unfold maddwd. apply wrap32_small.
  split; [nia|].
  destruct (Z.eq_dec a0 (-32768)), (Z.eq_dec a1 (-32768)), (Z.eq_dec b0 (-32768)), (Z.eq_dec b1 (-32768));
    subst; try (exfalso; apply Hne; reflexivity); nia.
Qed.

(* ---- vpdpbusd (one int32 lane) ---- *)
Definition dpbusd (acc u0 u1 u2 u3 s0 s1 s2 s3 : Z) : Z :=
  wrap32 (acc + u0 * s0 + u1 * s1 + u2 * s2 + u3 * s3).

(* Checks f on 0 .. n-1 (by computation, for small n). *)
Fixpoint all_below (n : nat) (f : Z -> bool) : bool :=
  match n with O => true | S m => f (Z.of_nat m) && all_below m f end.

Lemma all_below_spec : forall n f, all_below n f = true -> forall z, 0 <= z < Z.of_nat n -> f z = true.
Proof.
  induction n as [|m IH]; intros f H z Hz; [lia|].
  cbn [all_below] in H. apply andb_true_iff in H as [H1 H2].
  destruct (Z.eq_dec z (Z.of_nat m)) as [->|]; [assumption|]. apply IH; [assumption|lia].
Qed.

(* ---- pxor with 0x80: the int8 w read as uint8 after flipping the top bit is w + 128 ---- *)
Definition xor80 (w : Z) : Z := Z.lxor (u8 w) 128.

Lemma xor80_offset : forall w, -128 <= w <= 127 -> xor80 w = w + 128.
Proof.
  intros w Hw.
  assert (H : all_below 256 (fun i => xor80 (i - 128) =? i) = true) by (vm_compute; reflexivity).
  pose proof (all_below_spec _ _ H (w + 128)) as H1. cbv beta in H1.
  replace (w + 128 - 128) with w in H1 by lia.
  apply Z.eqb_eq, H1. cbn. lia.
Qed.

(* ---- Nibble unpacking of Q4_0 / Q4_K: (v & 0x0f) and (srli_epi16(v, 4) & 0x0f) per byte of a 16-bit word ----
   A word v = lo + 256 hi. The 16-bit shift moves hi's low bits into lo's top, which the mask then drops. *)
Lemma land15 : forall a, Z.land a 15 = a mod 16.
Proof. intros a. change 15 with (Z.ones 4). rewrite Z.land_ones by lia. reflexivity. Qed.

Lemma nibbles : forall v, 0 <= v < 65536 ->
  Z.land ((v / 16) mod 256) 15 = (v mod 256) / 16 /\ Z.land ((v / 16) / 256) 15 = (v / 256) / 16 /\
  Z.land (v mod 256) 15 = (v mod 256) mod 16 /\ Z.land (v / 256) 15 = (v / 256) mod 16.
Proof.
  intros v Hv. rewrite !land15.
  assert (Hl : 0 <= v mod 256 < 256) by (apply Z.mod_pos_bound; lia).
  assert (Hv' : v = 256 * (v / 256) + v mod 256) by (apply Z.div_mod; lia).
  assert (Hh : 0 <= v / 256 < 256) by (split; [apply Z.div_pos | apply Z.div_lt_upper_bound]; lia).
  assert (Hq : v / 16 = 16 * (v / 256) + (v mod 256) / 16).
  { rewrite Hv' at 1. replace (256 * (v / 256) + v mod 256) with ((v mod 256) + (16 * (v / 256)) * 16) by ring.
    rewrite Z.div_add by lia. ring. }
  assert (Ha : 0 <= (v mod 256) / 16 < 16) by (split; [apply Z.div_pos | apply Z.div_lt_upper_bound]; lia).
  split; [|split; [|split]]; [| |reflexivity|reflexivity].
  - rewrite Hq. rewrite <- (Zmod_div_mod 16 256) by (try lia; exists 16; lia).
    replace (16 * (v / 256) + v mod 256 / 16) with (v mod 256 / 16 + (v / 256) * 16) by ring.
    rewrite Z.mod_add by lia. apply Z.mod_small. lia.
  - rewrite !Z.div_div by lia. apply Z.mod_small. split; [apply Z.div_pos | apply Z.div_lt_upper_bound]; lia.
Qed.

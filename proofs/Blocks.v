(* Block-level theorems: each kernel's instruction sequence, as modelled here, computes the scalar reference's
   integer sum for every input of the stated domain, and no int16 saturates and no int32 wraps on the way.
   See README.md for which C++ function each model stands for. *)
From Coq Require Import ZArith Lia List Permutation.
Require Import Simd.
Import ListNotations.
Open Scope Z_scope.

Definition INT32_MAX := 2147483647.

(* ---- Sums ---- *)
Definition sum (l : list Z) : Z := fold_right Z.add 0 l.
Definition abs_sum (l : list Z) : Z := fold_right (fun z s => Z.abs z + s) 0 l.

Lemma sum_app : forall l r, sum (l ++ r) = sum l + sum r.
Proof. unfold sum. induction l; intros; cbn; [lia|]. rewrite IHl. lia. Qed.
Lemma abs_sum_app : forall l r, abs_sum (l ++ r) = abs_sum l + abs_sum r.
Proof. unfold abs_sum. induction l; intros; cbn; [lia|]. rewrite IHl. lia. Qed.
Lemma abs_sum_bound : forall l, Z.abs (sum l) <= abs_sum l.
Proof. unfold sum, abs_sum. induction l; cbn; lia. Qed.
Lemma abs_sum_nonneg : forall l, 0 <= abs_sum l.
Proof. unfold abs_sum. induction l; cbn; lia. Qed.
Lemma sum_perm : forall l l', Permutation l l' -> sum l = sum l' /\ abs_sum l = abs_sum l'.
Proof. unfold sum, abs_sum. intros l l' H. induction H; cbn; lia. Qed.
Lemma abs_sum_map_le : forall {A} (f : A -> Z) B l, (forall a, In a l -> Z.abs (f a) <= B) ->
  abs_sum (map f l) <= Z.of_nat (length l) * B.
Proof.
  intros A f B l. induction l as [|a l IH]; intros H; [cbn; lia|].
  specialize (IH (fun a' Ha' => H a' (or_intror Ha'))). specialize (H a (or_introl eq_refl)).
  cbn [map length]. unfold abs_sum in *. cbn [fold_right]. rewrite Nat2Z.inj_succ. lia.
Qed.
Lemma sum_map_add : forall {A} (f g : A -> Z) l, sum (map (fun a => f a + g a) l) = sum (map f l) + sum (map g l).
Proof. unfold sum. induction l; cbn; [lia|]. rewrite IHl. lia. Qed.
Lemma sum_map_scale : forall {A} (f : A -> Z) c l, sum (map (fun a => c * f a) l) = c * sum (map f l).
Proof. unfold sum. induction l; cbn; [lia|]. rewrite IHl. lia. Qed.
Lemma sum_map_ext : forall {A} (f g : A -> Z) l, (forall a, In a l -> f a = g a) -> sum (map f l) = sum (map g l).
Proof. intros. f_equal. apply map_ext_in. assumption. Qed.
Lemma sum_concat : forall ls, sum (concat ls) = sum (map sum ls).
Proof. induction ls; [reflexivity|]. cbn [concat map]. rewrite sum_app, IHls. reflexivity. Qed.

(* ---- A running int32 sum that wraps at each step equals the exact sum when the bound holds (the scalar
   references' `isum += ...`, and every vpdpbusd chain). ---- *)
Lemma wrap_fold : forall {A} (f : A -> Z) (l : list A) s,
  Z.abs s + abs_sum (map f l) <= INT32_MAX ->
  fold_left (fun acc a => wrap32 (acc + f a)) l s = s + sum (map f l).
Proof.
  unfold abs_sum, sum, INT32_MAX.
  intros A f l. induction l as [|a l IH]; intros s H; cbn [fold_left map fold_right] in *; [lia|].
  pose proof (Z.abs_nonneg (f a)). pose proof (abs_sum_nonneg (map f l)). unfold abs_sum in *.
  rewrite wrap32_small by lia. rewrite IH by lia. lia.
Qed.

(* ---- Reductions of int32 lanes (hadd/add/permute trees, hsum, reduce8, fold of 512-bit halves): any tree of
   wrapping adds over any arrangement of the lanes gives their exact sum when the absolute sum fits. ---- *)
Inductive tree := Leaf (z : Z) | Node (l r : tree).
Fixpoint eval_wrap (t : tree) : Z :=
  match t with Leaf z => z | Node l r => wrap32 (eval_wrap l + eval_wrap r) end.
Fixpoint leaves (t : tree) : list Z := match t with Leaf z => [z] | Node l r => leaves l ++ leaves r end.

Lemma tree_exact : forall t, abs_sum (leaves t) <= INT32_MAX -> eval_wrap t = sum (leaves t).
Proof.
  induction t as [z|l IHl r IHr]; intros H; cbn in *; [unfold sum; cbn; lia|].
  rewrite abs_sum_app in H. pose proof (abs_sum_bound (leaves l)). pose proof (abs_sum_bound (leaves r)).
  pose proof (Z.abs_nonneg (sum (leaves l))). pose proof (Z.abs_nonneg (sum (leaves r))).
  rewrite IHl, IHr by lia. rewrite sum_app. unfold INT32_MAX in *. apply wrap32_small. lia.
Qed.

Theorem reduce_any_order : forall t lanes, Permutation (leaves t) lanes -> abs_sum lanes <= INT32_MAX ->
  eval_wrap t = sum lanes.
Proof.
  intros t lanes P H. destruct (sum_perm _ _ P) as [E1 E2]. rewrite tree_exact by lia. assumption.
Qed.

(* ---- Quads: four consecutive bytes, the unit of one int32 lane ---- *)
Definition quad := (Z * Z * Z * Z)%type.
Definition qall (P : Z -> Prop) (q : quad) : Prop := let '(a, b, c, d) := q in P a /\ P b /\ P c /\ P d.
Definition qdot (w x : quad) : Z :=
  let '(w0, w1, w2, w3) := w in let '(x0, x1, x2, x3) := x in w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3.
Definition qsum (x : quad) : Z := let '(a, b, c, d) := x in a + b + c + d.
Definition qadd (c : Z) (w : quad) : quad := let '(a, b, d, e) := w in (a + c, b + c, d + c, e + c).
(* The block's values in element order, and the reference dot over them. *)
Definition flat4 (l : list quad) : list Z := flat_map (fun q => let '(a, b, c, d) := q in [a; b; c; d]) l.
Fixpoint dot (w x : list Z) : Z := match w, x with a :: w', b :: x' => a * b + dot w' x' | _, _ => 0 end.
Definition pairs {A} (w x : list A) := combine w x.
Definition lanes {A} (f : A -> A -> Z) (w x : list A) : list Z := map (fun p => f (fst p) (snd p)) (combine w x).

Lemma dot_flat4 : forall w x, length w = length x -> dot (flat4 w) (flat4 x) = sum (lanes qdot w x).
Proof.
  induction w as [|[[[w0 w1] w2] w3] w IH]; intros [|[[[x0 x1] x2] x3] x] Hl; try (cbn in *; lia).
  change (flat4 ((w0, w1, w2, w3) :: w)) with (w0 :: w1 :: w2 :: w3 :: flat4 w).
  change (flat4 ((x0, x1, x2, x3) :: x)) with (x0 :: x1 :: x2 :: x3 :: flat4 x).
  cbn [dot lanes combine map fst snd]. unfold lanes in IH. cbn [length] in Hl.
  rewrite IH by lia. unfold sum. cbn [fold_right]. unfold qdot. ring.
Qed.
Lemma sum_flat4 : forall x, sum (flat4 x) = sum (map qsum x).
Proof.
  induction x as [|[[[a b] c] d] x IH]; [reflexivity|].
  change (flat4 ((a, b, c, d) :: x)) with (a :: b :: c :: d :: flat4 x).
  unfold sum in *. cbn [fold_right map]. rewrite IH. unfold qsum. ring.
Qed.

Definition I8 (z : Z) : Prop := -128 <= z <= 127.      (* any int8 *)
Definition X8 (z : Z) : Prop := -127 <= z <= 127.      (* int8 without -128 *)

Lemma mul_abs_le : forall A B a b, Z.abs a <= A -> Z.abs b <= B -> Z.abs (a * b) <= A * B.
Proof.
  intros. rewrite Z.abs_mul. apply Z.mul_le_mono_nonneg; try assumption; apply Z.abs_nonneg.
Qed.

Lemma qdot_bound : forall A B w x, qall (fun z => Z.abs z <= A) w ->
  qall (fun z => Z.abs z <= B) x -> Z.abs (qdot w x) <= 4 * (A * B).
Proof.
  intros A B [[[w0 w1] w2] w3] [[[x0 x1] x2] x3] Hw Hx; unfold qall, qdot in *.
  destruct Hw as (H0 & H1 & H2 & H3). destruct Hx as (G0 & G1 & G2 & G3).
  pose proof (mul_abs_le _ _ _ _ H0 G0). pose proof (mul_abs_le _ _ _ _ H1 G1).
  pose proof (mul_abs_le _ _ _ _ H2 G2). pose proof (mul_abs_le _ _ _ _ H3 G3).
  set (p0 := w0 * x0) in *. set (p1 := w1 * x1) in *. set (p2 := w2 * x2) in *. set (p3 := w3 * x3) in *.
  set (AB := A * B) in *. lia.
Qed.

Lemma in_combine_forall : forall {A} (P Q : A -> Prop) w x p,
  Forall P w -> Forall Q x -> In p (combine w x) -> P (fst p) /\ Q (snd p).
Proof.
  intros A P Q w x p Hw Hx Hin. destruct p as [a b].
  pose proof (in_combine_l _ _ _ _ Hin). pose proof (in_combine_r _ _ _ _ Hin).
  rewrite Forall_forall in Hw, Hx. split; auto.
Qed.

Lemma length_combine_le : forall {A B} (w : list A) (x : list B), (length (combine w x) <= length w)%nat.
Proof. intros. rewrite combine_length. lia. Qed.

(* scripts/proofs.sh checks that each of these prints "Closed under the global context": no axiom, no
   admitted lemma behind any theorem. *)
Require Import Simd Blocks Kernels KQuants Ternary Dequant.
Print Assumptions Simd.sign_trick.
Print Assumptions Simd.xor80_offset.
Print Assumptions Simd.nibbles.
Print Assumptions Blocks.reduce_any_order.
Print Assumptions Kernels.q8_0_dot_sign_trick.
Print Assumptions Kernels.q4_0_dot_sign_trick.
Print Assumptions Kernels.scalar_block_dot_no_overflow.
Print Assumptions Kernels.offset_block.
Print Assumptions Kernels.ones_chain_is_sum.
Print Assumptions KQuants.kq_isum_exact.
Print Assumptions KQuants.coef_lane_exact.
Print Assumptions Ternary.tq_avx2_block_ref.
Print Assumptions Ternary.tq_vnni_lane.
Print Assumptions Ternary.tq1_0_codec.
Print Assumptions Ternary.tq2_0_codec.
Print Assumptions Dequant.ternary_exact.
Print Assumptions Dequant.q8_0_dequant.
Print Assumptions Dequant.fp16_scale_error.
Print Assumptions Dequant.q4_0_dequant.
Print Assumptions KQuants.kq_packed_isum_exact.
Print Assumptions KQuants.coef_chain_exact.
Print Assumptions Dequant.q4_0_dequant_pos.

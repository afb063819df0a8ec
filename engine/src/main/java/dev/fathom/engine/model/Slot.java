package dev.fathom.engine.model;

/** Named weight slots; each family maps them to its Hugging Face tensor names. */
public enum Slot {
    EMBED, POS_EMBED, FINAL_NORM_W, FINAL_NORM_B, LM_HEAD,
    ATTN_NORM_W, ATTN_NORM_B,
    Q_W, Q_B, K_W, K_B, V_W, V_B,
    /** fused q/k/v (GPT-2 c_attn, GPT-NeoX query_key_value) */
    QKV_W, QKV_B,
    O_W, O_B,
    MLP_NORM_W, MLP_NORM_B,
    UP_W, UP_B, GATE_W, GATE_B, DOWN_W, DOWN_B,
    ROUTER_W, EXPERT_GATE_W, EXPERT_UP_W, EXPERT_DOWN_W
}

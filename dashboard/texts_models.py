"""Texts of the models page's plots and model card (dashboard/model_plots.py), and of the
wall screen's places column."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "plot_importance_x": {"zh": "平均绝对贡献", "en": "Mean contribution (mean |SHAP|)"},
    "plot_feature": {"zh": "特征", "en": "Feature"},
    "plot_predicted": {"zh": "预测概率", "en": "Predicted probability"},
    "plot_observed": {"zh": "实际发生率", "en": "Observed frequency"},
    "plot_rows": {"zh": "样本数", "en": "Rows"},
    "plot_importance_drawn": {
        "zh": "特征重要性：各特征对模型输出的平均绝对贡献（取前 15 项），条越长影响越大",
        "en": "Feature importance: each feature's mean contribution to the model's output "
        "(mean |SHAP|, top 15); the longer the bar, the more it weighs",
    },
    "plot_reliability_drawn": {
        "zh": "可靠性图：每个点是一组预测，横轴为平均预测概率，纵轴为实际发生率；"
        "点越贴近虚线对角线，概率越可信",
        "en": "Reliability: each point is a group of predictions, mean predicted probability "
        "(x) against observed frequency (y); the closer to the dashed diagonal, the more the "
        "probabilities can be trusted",
    },
    "plot_png_only": {
        "zh": "此次训练未记录图的数据，只能显示训练时生成的图片（图内文字为英文）。",
        "en": "This training run logged no data for this plot; shown is the image drawn at "
        "training time.",
    },
    # beside the models page's MLflow links when the tracking server does not answer
    # (dashboard.views.mlflow_links): make demo starts none, make up does
    "mlflow_ui_down": {
        "zh": "（MLflow 跟踪服务器 {ui} 未运行，以上链接暂时打不开；请在项目目录运行 `make up`"
        "（启动全部服务）或 `scripts/services.sh up mlflow`（只启动 MLflow），登录用户 `admin`，"
        "密码见 `$RISKWARN_HOME/secrets/mlflow_auth.ini`。）",
        "en": "(the MLflow tracking server at {ui} is not running, so these links open "
        "nothing: start it in the checkout with `make up` (every service) or "
        "`scripts/services.sh up mlflow` (MLflow alone); it signs in the user `admin`, "
        "password in `$RISKWARN_HOME/secrets/mlflow_auth.ini`)",
    },
    "card_title": {"zh": "模型说明", "en": "Model card"},
    "card_english_only": {
        "zh": "此次训练未记录生成中文模型说明所需的数据，以下模型说明仅有英文版。",
        "en": "",
    },
    # the gate's comparison with the previous serving model, on forecast origins after
    # its training data only (models/gate.py: champion_check)
    "vd_champion_better": {
        "zh": "与此前的服役模型（第 {v} 版）相比：在 {through} 起它未见过的 {n} 个"
        "预测起点上明显更好（差 {diff}，区间 {lo} 至 {hi}）。",
        "en": "Against the previous model (v{v}): clearly better on the {n} forecast origins "
        "from {through} on, which it never saw ({diff}, CI {lo} to {hi}).",
    },
    "vd_champion_not_worse": {
        "zh": "与此前的服役模型（第 {v} 版）训练方法相同，只是数据更新：在 {through} 起"
        "它未见过的 {n} 个预测起点上不比它差（差 {diff}，区间 {lo} 至 {hi}）。",
        "en": "Same recipe as the previous model (v{v}), with newer data: not worse on the "
        "{n} forecast origins from {through} on, which it never saw ({diff}, CI {lo} "
        "to {hi}).",
    },
    "vd_champion_not_worse_same_data": {
        "zh": "与此前的服役模型（第 {v} 版）训练方法相同，数据也相同（均训练至 {through}）："
        "在 {through} 起它未见过的 {n} 个预测起点上不比它差（差 {diff}，区间 {lo} 至 {hi}）。",
        "en": "Same recipe and same data as the previous model (v{v}; both trained through "
        "{through}): not worse on the {n} forecast origins from {through} on, which it never "
        "saw ({diff}, CI {lo} to {hi}).",
    },
    "vd_champion_refresh_same_data": {
        "zh": "与此前的服役模型（第 {v} 版）训练方法相同，数据也相同（均训练至 {through}）；"
        "还没有足够的它未见过的预测起点可供比较（{n} 个，至少需要 {min} 个且有事件），"
        "由与简单方法的比较和校准检查决定。",
        "en": "Same recipe and same data as the previous model (v{v}; both trained through "
        "{through}); too few forecast origins it never saw to compare the two ({n}, needs "
        "{min} with an event): the simple methods and calibration decide.",
    },
    "vd_champion_refresh": {
        "zh": "与此前的服役模型（第 {v} 版）训练方法相同，只是数据更新；{through} 起"
        "还没有足够的它未见过的预测起点可供比较（{n} 个，至少需要 {min} 个且有事件），"
        "由与简单方法的比较和校准检查决定。",
        "en": "Same recipe as the previous model (v{v}), with newer data; too few forecast "
        "origins from {through} on, which it never saw, to compare the two ({n}, needs "
        "{min} with an event): the simple methods and calibration decide.",
    },
    "vd_meaning_not_judged_champion": {
        "zh": "含义：无法在两者都未见过的数据上与此前的服役模型比较（并非未通过）；它不会自动启用。",
        "en": "What this means: it could not be compared with the previous model on data "
        "neither saw (this is not a failure); it is not promoted automatically.",
    },
    "vd_gate_not_judged_champion": {
        "zh": "**门槛无法评判**：此前的服役模型（第 {v} 版）用 {through} 之前的数据训练，"
        "回测期 {total} 个预测起点中只有 {n} 个在此之后（至少需要 {min} 个且有事件），"
        "无法在两者都未见过的数据上比较，因此未自动启用。可等数据更新后重新训练，"
        "或由人工填写理由强制启用（记入审计日志）。",
        "en": "**The gate could not judge it**: the previous model (v{v}) was trained on data "
        "before {through}, and only {n} of the backtest's {total} forecast origins come "
        "after that (needs {min} with an event), so the two cannot be compared on data neither "
        "saw. It was not promoted automatically. Wait for newer data and retrain, or "
        "promote it by hand with a reason (`riskwarn promote {domain} VERSION --force "
        "--reason ...`, audited).",
    },
    # the wall screen's side column names each domain's list (dashboard/pages/overview.py)
    "top_places_of": {"zh": "重点关注地区：{domain}", "en": "Places to watch: {domain}"},
}

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
    "card_title": {"zh": "模型说明", "en": "Model card"},
    "card_english_only": {
        "zh": "此次训练未记录生成中文模型说明所需的数据，以下模型说明仅有英文版。",
        "en": "",
    },
    # the wall screen's side column names each domain's list (dashboard/pages/overview.py)
    "top_places_of": {"zh": "重点关注地区：{domain}", "en": "Places to watch: {domain}"},
}

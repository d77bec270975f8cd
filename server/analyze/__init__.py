"""Risk analysis of a batch of detections: prompt, output schema, backends, baselines.

Entry points: `build_analyzer(settings)` (a `ResilientAnalyzer`), `risk_level(score)` (the one
definition of the bands), `BatchContext` (what is analysed) and `RiskAssessment` (what comes back).
"""

// Pooling for the insights (core/insights.h): the meta-analysis of a set of
// effect rows, and the pooled result the answer gives, with its evidence
// grade and its cost beside the effect.
//
//   absl::StatusOr<analysis::FitResult> fit = PoolEffects(rows, question);
//   if (fit.ok()) FillPooledResult(*fit, rows, question, answer_date, &pooled);
#ifndef LEERLUS_CORE_POOLING_H_
#define LEERLUS_CORE_POOLING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "analysis/meta_analysis.h"
#include "core/evidence_collection.h"
#include "leerlus/v1/insight_service.pb.h"

namespace leerlus::core {

// The fit options the question asks for, for `k` outcomes and a model of
// `coefficients` coefficients (the intercept included).
analysis::FitOptions FitOptionsFor(const Question& question, size_t k, size_t coefficients = 1);

// Pools the rows' effects with the question's model.
absl::StatusOr<analysis::FitResult> PoolEffects(const std::vector<const EffectRow*>& rows,
                                                const Question& question);

// The pooled result of `fit` over `rows`: estimate, heterogeneity, the
// evidence grade as of `answer_date`, and cost.
void FillPooledResult(const analysis::FitResult& fit, const std::vector<const EffectRow*>& rows,
                      const Question& question, const std::string& answer_date,
                      v1::PooledResult* pooled);

}  // namespace leerlus::core

#endif  // LEERLUS_CORE_POOLING_H_

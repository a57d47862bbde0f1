#include "analysis/distributions.h"

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>

namespace leerlus::analysis {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double NormalTwoSidedP(double z) {
  if (!std::isfinite(z)) return std::isnan(z) ? kNaN : 0.0;
  return 2 * boost::math::cdf(boost::math::complement(boost::math::normal(), std::fabs(z)));
}

double StudentTwoSidedP(double t, double df) {
  if (!std::isfinite(t) || !(df > 0)) return std::isinf(t) ? 0.0 : kNaN;
  return 2 * boost::math::cdf(boost::math::complement(boost::math::students_t(df), std::fabs(t)));
}

double ChiSquareUpperP(double x, double df) {
  if (std::isnan(x) || !(df > 0)) return kNaN;
  if (x <= 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  return boost::math::cdf(boost::math::complement(boost::math::chi_squared(df), x));
}

double FisherUpperP(double f, double df1, double df2) {
  if (std::isnan(f) || !(df1 > 0) || !(df2 > 0)) return kNaN;
  if (f <= 0) return 1.0;
  if (std::isinf(f)) return 0.0;
  return boost::math::cdf(boost::math::complement(boost::math::fisher_f(df1, df2), f));
}

double NormalCritical95() {
  static const double kCritical = boost::math::quantile(boost::math::normal(), 0.975);
  return kCritical;
}

double StudentCritical95(double df) {
  return boost::math::quantile(boost::math::students_t(df), 0.975);
}

double ChiSquareQuantile(double probability, double df) {
  return boost::math::quantile(boost::math::chi_squared(df), probability);
}

double NormalCdf(double z) { return boost::math::cdf(boost::math::normal(), z); }

}  // namespace leerlus::analysis

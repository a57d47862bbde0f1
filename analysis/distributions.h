// Two-sided p-values and critical values (Boost.Math), with upper-tail
// functions so that tiny p-values keep their precision.
#ifndef LEERLUS_ANALYSIS_DISTRIBUTIONS_H_
#define LEERLUS_ANALYSIS_DISTRIBUTIONS_H_

namespace leerlus::analysis {

// P(|Z| > |z|) for a standard normal Z.
double NormalTwoSidedP(double z);
// P(|T| > |t|) for Student's t with `df` degrees of freedom.
double StudentTwoSidedP(double t, double df);
// P(X > x) for chi-square with `df` degrees of freedom.
double ChiSquareUpperP(double x, double df);
// P(F > f) for F(df1, df2).
double FisherUpperP(double f, double df1, double df2);
// The 97.5% quantile of the standard normal (1.959963984540054).
double NormalCritical95();
// The 97.5% quantile of Student's t with `df` degrees of freedom.
double StudentCritical95(double df);
// The `probability` quantile of chi-square with `df` degrees of freedom.
double ChiSquareQuantile(double probability, double df);
// The standard normal's distribution function.
double NormalCdf(double z);

}  // namespace leerlus::analysis

#endif  // LEERLUS_ANALYSIS_DISTRIBUTIONS_H_

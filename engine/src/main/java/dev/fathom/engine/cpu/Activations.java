package dev.fathom.engine.cpu;

import dev.fathom.engine.model.ModelConfig;

/** Element-wise activations, computed in double and stored as float. */
public final class Activations {
    private Activations() {}

    public static float apply(ModelConfig.Activation a, float x) {
        return switch (a) {
            case RELU -> x > 0 ? x : 0f;
            case SILU -> (float) (x / (1.0 + Math.exp(-x)));
            case GELU -> (float) (0.5 * x * (1.0 + erf(x / Math.sqrt(2.0))));
            case GELU_TANH -> (float) (0.5 * x * (1.0 + Math.tanh(Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x))));
        };
    }

    public static void apply(ModelConfig.Activation a, float[] x, int n) {
        for (int i = 0; i < n; i++) x[i] = apply(a, x[i]);
    }

    /**
     * Error function to about 1e-12 absolute: a series for small |x| and a continued fraction for
     * the complementary function beyond.
     */
    public static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) {
            // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
            double term = ax, sum = ax, x2 = ax * ax;
            for (int n = 1; n < 60; n++) {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
            }
            r = 2.0 / Math.sqrt(Math.PI) * sum;
        } else {
            // Lentz continued fraction for erfc
            double tiny = 1e-300;
            double f = ax, c = ax, d = 0;
            for (int n = 1; n < 200; n++) {
                double an = n / 2.0;
                d = ax + an * d;
                d = Math.abs(d) < tiny ? tiny : d;
                c = ax + an / c;
                c = Math.abs(c) < tiny ? tiny : c;
                d = 1 / d;
                double delta = c * d;
                f *= delta;
                if (Math.abs(delta - 1) < 1e-16) break;
            }
            double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
            r = 1 - erfc;
        }
        return x < 0 ? -r : r;
    }
}

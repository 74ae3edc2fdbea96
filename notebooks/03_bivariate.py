# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Two sizes at once: Chinchilla's L(N, D) and encoder/decoder scaling
#
# - Chinchilla (Hoffmann et al. 2022, Approach 3): `L(N, D) = E + A/N^alpha + B/D^beta` over parameters N and training tokens D, fitted as Besiroglu et al. (2024) did: Huber(1e-3) on the log loss, L-BFGS-B from their grid of starts. It answers: for a compute budget C = 6 N D, which model size and token count give the lowest loss?
# - Encoder/decoder (Ghorbani et al. 2021): `L(Ne, Nd) = a (Ne0/Ne)^pe (Nd0/Nd)^pd + L_inf`. It answers: how to split a parameter budget between encoder and decoder.
#
# Data shipped in `../data/`: Gadre et al. 2024 (MIT; 6 model sizes, 11M to 6.9B, each trained at 5 to 640 tokens per parameter) and Muennighoff et al. 2023 (datablations, Apache-2.0; runs that repeat their data for up to thousands of epochs).

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scalelaw

gadre = pd.read_csv('../data/gadre_overtraining/models_final_loss.csv')
rpj = gadre[gadre['dataset'] == 'rpj']
data = pd.DataFrame({'N': rpj['N_params'], 'D': rpj['D_tokens'], 'y': rpj['loss_c4_val']})
data.attrs['columns'] = {'N': 'parameters N', 'D': 'tokens D', 'y': 'C4 validation loss'}
len(data), data['N'].nunique(), sorted(rpj['tokens_per_param'].unique().tolist())

# %% [markdown]
# ## 1. Fit L(N, D) on models trained on RedPajama, scored on C4
#
# 200 bootstrap refits give the intervals (points resampled).

# %%
chin = scalelaw.fit('chinchilla', data, bootstrap=200, seed=0)
print(chin.report())

# %%
axes = chin.plot()

# %% [markdown]
# Left: the fitted iso-loss contours with the runs coloured by their loss, dashed lines of equal compute, and in red the compute-optimal allocation. Right: the loss against N for several token counts.

# %% [markdown]
# ## 2. The compute-optimal frontier
#
# `allocate` gives N_opt(C), D_opt(C), the tokens per parameter and the loss at the optimum, with bootstrap intervals. Budgets beyond the largest run (about 5.8e20 FLOPs here) are extrapolations.

# %%
budgets = np.geomspace(1e18, 1e24, 7)
frontier = chin.allocate(budgets)
frontier[['budget', 'N', 'N_lower', 'N_upper', 'D', 'tokens_per_parameter', 'tokens_per_parameter_lower',
          'tokens_per_parameter_upper', 'loss']].map(lambda v: float(f'{v:.3g}'))

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout='constrained')
C = np.geomspace(1e18, 1e24, 100)
f = chin.allocate(C)
axes[0].plot(C, f['N'], 'C3', label='N_opt(C), fitted')
axes[0].fill_between(C, f['N_lower'], f['N_upper'], color='C3', alpha=0.2, label='95% bootstrap')
axes[0].plot(C, np.sqrt(C / 120), 'k--', lw=1, label='20 tokens per parameter (C = 6 N 20 N)')
axes[0].scatter(6 * data['N'] * data['D'], data['N'], s=10, c='grey', label='runs')
axes[0].set(xscale='log', yscale='log', xlabel='compute C (FLOPs)', ylabel='parameters N')
axes[0].legend(fontsize=8)
# iso-FLOP profiles: the loss along C = 6 N D for a few budgets, minimum marked
for i, c in enumerate(np.geomspace(1e19, 1e23, 5)):
    n = np.geomspace(1e7, 1e12, 300)
    loss = chin.predict({'N': n, 'D': scalelaw.tokens_from_compute(n, c)})
    best = chin.allocate(c)
    axes[1].plot(n, loss, color=f'C{i}', label=f'C = {c:.0e}')
    axes[1].plot(best['N'], best['loss'], 'o', color=f'C{i}')
axes[1].set(xscale='log', xlabel='parameters N', ylabel='predicted C4 loss', ylim=(2.0, 4.0))
axes[1].legend(fontsize=8);

# %% [markdown]
# The fitted exponents (`n_opt_exponent` in the report) put N_opt near C^0.53, close to Chinchilla's C^0.5. The optimum itself sits at fewer tokens per parameter than Chinchilla's 20 (about 9 at 1e18 FLOPs, falling to 4 at 1e24), and its bootstrap interval is wide (at 1e21 FLOPs, roughly 1 to 12 tokens per parameter): six model sizes pin down alpha and beta loosely, and the ratio depends on both. Read the frontier as a range to test, not a recipe. Beyond the largest run the intervals widen quickly.

# %% [markdown]
# ## 3. Does it extrapolate? Predict the largest model from the five smaller ones

# %%
largest = data['N'] == data['N'].max()
smaller = scalelaw.fit('chinchilla', data[~largest])
pred = smaller.predict(data[largest])
pd.DataFrame({'tokens': data['D'][largest], 'observed': data['y'][largest], 'predicted': pred,
              'error %': 100 * (pred - data['y'][largest]) / data['y'][largest]}).round(3)

# %% [markdown]
# ## 4. Repeated data is worth less (datablations)
#
# Fit the law on the single-epoch runs only, then predict runs that saw the same number of tokens by repeating a smaller dataset. Up to about 4 epochs the prediction holds (the paper's finding: repetition is almost free there); at tens of epochs the real loss is far above what the same number of fresh tokens would give.

# %%
db = pd.read_csv('../data/datablations/data_constrained_final_losses.csv')
one = db[db['epochs'] == 1]
single = scalelaw.fit('chinchilla', {'N': one['N_params'], 'D': one['D_tokens'], 'y': one['val_loss']})
print(single.report())
rep = db[db['epochs'] > 1].copy()
rep['error %'] = 100 * (single.predict({'N': rep['N_params'], 'D': rep['D_tokens']}) - rep['val_loss']) / rep['val_loss']
rep.groupby(pd.cut(rep['epochs'], [1, 4, 16, 64, 10000]), observed=True)['error %'].describe()[['count', '50%', 'min', 'max']].round(2)

# %% [markdown]
# ## 5. Encoder/decoder: how to split a parameter budget
#
# No public table of encoder/decoder losses exists (Ghorbani et al. released translations, not losses), so this example uses a 4 x 4 grid drawn from known parameters with 0.3 % noise; the tests do the same. Fits on real curves will come from `scalelaw.train`'s encoder-decoder sweep.

# %%
rng = np.random.default_rng(1)
ne, nd = (g.ravel() for g in np.meshgrid(np.geomspace(2e7, 5e8, 4), np.geomspace(2e7, 5e8, 4)))
true = {'a': 0.9, 'pe': 0.25, 'pd': 0.40, 'L_inf': 1.6}
law = scalelaw.ENCDEC.bind({'ref_ne': 1e8, 'ref_nd': 1e8})
grid = pd.DataFrame({'Ne': ne, 'Nd': nd, 'y': law({'Ne': ne, 'Nd': nd}, **true) * np.exp(rng.normal(0, 0.003, 16))})
encdec = scalelaw.fit('encdec', grid, options={'ref_ne': 1e8, 'ref_nd': 1e8})
print(encdec.report())

# %%
print('true best encoder share:', true['pe'] / (true['pe'] + true['pd']))
encdec.allocate([2e8, 1e9, 5e9]).round(4)

# %% [markdown]
# Is the split worth modelling, or does the total size explain the loss? `versus_total` fits one power law in Ne + Nd to the same points and compares AIC:

# %%
from scalelaw.report import format_versus_total

print(format_versus_total(scalelaw.versus_total(encdec)))

# %%
axes = encdec.plot()

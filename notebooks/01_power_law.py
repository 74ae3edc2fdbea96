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
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Power law plus constant on real data
#
# `L(x) = L_inf + (x0/x)^alpha` (Henighan et al. 2020). `L_inf` is the irreducible loss, the estimate of the data's entropy; `(x0/x)^alpha` is the loss that a larger `x` (parameters, tokens or compute) can still remove.
#
# Data shipped in `../data/`: Gadre et al. 2024 (MIT) and Alabdulmohsin et al. 2022 (Apache-2.0).

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scalelaw

DATA = '../data'

# %% [markdown]
# ## 1. Loss over model size (Gadre et al.)
#
# Six models, 11M to 6.9B parameters, each trained on 20 tokens per parameter on C4; loss on C4 validation.

# %%
runs = scalelaw.load_runs(f'{DATA}/gadre_overtraining/models_final_loss.csv', roles=('x', 'y'),
                          columns={'x': 'N_params', 'y': 'loss_c4_val'},
                          where="dataset == 'c4_original' and tokens_per_param == 20")
result = scalelaw.fit('power', runs, bootstrap=200, seed=0)
print(result.report())

# %%
ax = result.plot(extrapolate_to=1e11)
ax.set_title('Gadre et al., C4, 20 tokens/parameter');

# %% [markdown]
# What would a 10B and a 70B model reach under the same recipe? The interval comes from the 200 bootstrap refits: with six points it is wide, and it should be.

# %%
x = np.array([1e10, 7e10])
lo, hi = result.predict_interval(x)
pd.DataFrame({'N': x, 'loss': result.predict(x), 'lower': lo, 'upper': hi})

# %% [markdown]
# Would the five smaller models have predicted the largest one?

# %%
small = scalelaw.fit('power', runs.iloc[:-1])
largest = runs.iloc[-1]
pred = small.predict([largest.x])[0]
print(f'predicted {pred:.4f}, measured {largest.y:.4f}, error {100 * abs(pred - largest.y) / largest.y:.2f} %')

# %% [markdown]
# ## 2. Learning curves with a held-out extrapolation split (Alabdulmohsin et al. 2022)
#
# Five decoder-only LMs; `Training == 1` points are fitted, `Training == 0` points lie beyond them and are only predicted. The upstream file repeats some rows; we drop exact repeats.

# %%
table = pd.read_csv(f'{DATA}/google_revisiting_scaling/benchmark.lang.csv')
lm = table[table.Domain == 'LM'].drop_duplicates(['Model', 'Seen Examples'])
rows, fits = [], {}
for model, curve in lm.groupby('Model'):
    train, test = curve[curve.Training == 1], curve[curve.Training == 0]
    fits[model] = r = scalelaw.fit('power', {'x': train['Seen Examples'], 'y': train['Loss']})
    rel = np.abs(r.predict(test['Seen Examples']) - test['Loss']) / test['Loss']
    rows.append({'model': model, 'L_inf': r.params['L_inf'], 'alpha': r.params['alpha'],
                 'fit_mape_%': r.metrics['mape'], 'heldout_mape_%': 100 * rel.mean(), 'heldout_max_%': 100 * rel.max()})
pd.DataFrame(rows).round(4)

# %%
fig, ax = plt.subplots(figsize=(7, 4.5), layout='constrained')
for model, curve in lm.groupby('Model'):
    test = curve[curve.Training == 0]
    x = np.geomspace(curve['Seen Examples'].min(), curve['Seen Examples'].max(), 200)
    ax.plot(x, fits[model].predict(x), lw=1)
    ax.scatter(curve['Seen Examples'], curve['Loss'], s=6, c=np.where(curve.Training == 1, 'k', 'r'))
ax.set(xscale='log', yscale='log', xlabel='examples seen', ylabel='loss',
       title='fits (lines) on black points; red points held out');

# %% [markdown]
# The same law on the five NMT curves (one held-out point each) extrapolates worse, by several percent: those curves bend towards their floor faster than a power law plus constant allows. We show it rather than hide it.

# %%
nmt = table[table.Domain == 'NMT']
rows = []
for model, curve in nmt.groupby('Model'):
    train, test = curve[curve.Training == 1], curve[curve.Training == 0]
    r = scalelaw.fit('power', {'x': train['Seen Examples'], 'y': train['Loss']})
    rel = np.abs(r.predict(test['Seen Examples']) - test['Loss']) / test['Loss']
    rows.append({'model': model, 'heldout_error_%': 100 * rel.mean()})
pd.DataFrame(rows).round(3)

# %% [markdown]
# ## 3. Compute-optimal size
#
# From learning curves of several sizes over compute (here `C = 6 N x examples`, proportional to FLOPs), `compute_optimal` takes the loss frontier and fits `N_opt(C) = k C^beta`. Only five sizes, so treat beta as rough.

# %%
lm = lm.assign(N=lm.Model.astype(float), loss=lm.Loss)
lm['C'] = 6 * lm.N * lm['Seen Examples']
opt = scalelaw.compute_optimal(lm, n='N', c='C', loss='loss')
print(f'beta = {opt.beta:.3f} +- {opt.beta_stderr:.3f}')
opt.frontier.head()

# %%
fig, ax = plt.subplots(figsize=(7, 4.5), layout='constrained')
for n, curve in lm.groupby('N'):
    ax.plot(curve.C, curve.loss, lw=1, label=f'N = {n:.3g}')
ax.plot(opt.frontier.C, opt.frontier.loss, 'k--', lw=2, label='frontier')
ax.set(xscale='log', yscale='log', xlabel='compute (6 N x examples)', ylabel='loss')
ax.legend(fontsize=8);

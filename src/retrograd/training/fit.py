"""``rg.fit``: the one-call front of the Trainer."""
from .divergence import DEFAULT_FACTOR
from .trainer import Trainer


def fit(model, loss, optimizer, train_data, *, epochs=100, mode="minibatch", batch_size=32,
        validation_data=None, validation_split=0.0, metrics=(), callbacks=(), stop=None, seed=0,
        shuffle=True, quiet=False, scheduler=None, checkpoint=None, resume=None, nan_guard=True,
        progress=None, train_metrics=True, blas_threads="auto", bptt=None, compile="auto",
        divergence_factor=DEFAULT_FACTOR, precision=None, grad_scaler=None,
        device=None):
    """Train ``model`` and return a :class:`History` (per-epoch lists: loss, val_loss, metrics, lr, time).

    Every argument and the data are checked before the first step; a bad one raises TypeError or
    ValueError at the call, naming it (NaN or Inf in the data: ``DataError`` with the array and
    the index). See ``retrograd.training.inputs`` and docs/training.md, *Bad input*.

    - ``loss``: a loss module, a function ``f(outputs, targets)`` or a name for ``rg.nn.get_loss``.
    - ``optimizer``: any ``rg.optim`` optimizer. It always gets a closure: ``closure_kind='loss'``
      ones a torch-style closure (zero grads, forward, loss, backward, return the loss), LM and
      Bayesian regularisation (``'residuals'``) one returning the residual vector r, ½Σr² = loss.
    - ``train_data``: ``(X, y)`` arrays of real numbers. Floating X and y (and integer X, unless the
      model starts from an Embedding) are cast once to the parameters' dtype; integer y stay integers.
    - ``mode``: ``'online'`` (one example per step), ``'batch'`` (all examples) or
      ``'minibatch'`` (``batch_size``; the last partial batch is kept). Full-batch optimizers
      (``optimizer.full_batch``) warn when fed mini-batches.
    - ``seed`` / ``shuffle``: with ``shuffle=True`` each epoch draws
      ``np.random.default_rng(seed).permutation(n)`` from one generator, in epoch order; pass
      ``shuffle=False`` for data order, an int or Generator to draw from, or a list of explicit
      per-epoch permutations. Batch mode never shuffles.
    - ``validation_data=(Xv, yv)`` or ``validation_split`` (the last fraction of the data).
    - ``metrics``: names ('accuracy', 'mse', 'mae', 'rmse', 'bit_fail') or functions.
    - ``stop``: stopping rules (see ``retrograd.training.stopping``), e.g.
      ``{"goal": 1e-3, "patience": 10}``; ``epochs`` is always the maximum.
    - ``scheduler``: an ``rg.optim.lr_scheduler`` object (stepped each epoch) or ``LRScheduler``.
    - ``checkpoint``: a path (checkpoint every epoch) or a ``Checkpoint``; ``resume``: a
      checkpoint path to continue from, bit for bit.
    - ``nan_guard``: stop a run that diverges (a non-finite loss or weights, or a loss above
      ``divergence_factor`` times the starting loss in two epochs running; None turns that test
      off), restore the last good weights, and set ``history.diverged``
      (``retrograd.training.divergence``).
    - ``device``: ``'cuda'`` trains on the GPU (CuPy): the model and the optimizer's state move
      there, and the training data too, whole when they fit in half the free device memory, else
      batch by batch; ``'cpu'`` moves them back; None (default) trains where the model is. See
      ``retrograd.training.device`` and docs/gpu.md.
    - ``quiet``: no progress output; ``progress``: a custom ``ProgressBar``.
    - ``train_metrics``: also compute ``metrics`` on the training set (one extra forward pass).
    - ``bptt``: ``(k1, k2)`` (or one int for k1 = k2) trains a recurrent model by truncated BPTT:
      X is (N, T, features), y (N, T, ...), and the model is called ``out, state = model(x, state)``
      (see ``retrograd.training.bptt``). Each batch of sequences gives ceil(T / k1) updates.
    - ``blas_threads``: ``'auto'`` runs small steps (batch rows x parameters < 2**21) on one BLAS
      thread, an int sets the count, None leaves BLAS alone (needs threadpoolctl).
    - ``compile``: ``'auto'`` records the training step on the first batch of each shape and
      replays it without building Tensors (same results bit for bit, checked on the next batch
      of that shape before it is trusted) when every module of the model and the loss are
      ``traceable`` (no dropout in training, no batch norm, no custom modules); ``True`` tries
      it for any model and loss (the check still falls back to eager on a mismatch; side effects
      outside primitives, such as counters in a custom module, are not seen), ``False`` never.
    - ``precision``: None (every op in the parameters' dtype), ``'float32'`` (the same, for float32
      parameters), ``'float16'`` or ``'bfloat16'``: mixed precision with float32 master weights, the
      forward and loss under ``rg.autocast`` and, for float16, dynamic loss scaling (steps whose
      gradients overflow are skipped); ``grad_scaler``: the ``rg.GradScaler`` to use (default
      ``GradScaler()`` for float16, none for bfloat16). Not with full-batch optimizers in float16,
      nor with residual (LM) or per-example optimizers, nor with ``bptt``; the step is not replayed
      (``compile``). See docs/precision.md.
    """
    trainer = Trainer(model, loss, optimizer, mode=mode, batch_size=batch_size, metrics=metrics,
                      callbacks=callbacks, stop=stop, scheduler=scheduler, seed=seed,
                      shuffle=shuffle, quiet=quiet, nan_guard=nan_guard, progress=progress,
                      checkpoint=checkpoint, train_metrics=train_metrics,
                      blas_threads=blas_threads, bptt=bptt, compile=compile,
                      divergence_factor=divergence_factor, precision=precision, grad_scaler=grad_scaler,
                      device=device)
    return trainer.fit(train_data, epochs=epochs, validation_data=validation_data,
                       validation_split=validation_split, resume=resume)

# rt20 F6 (red team, verbatim below the comments): a correct backward whose activation table is
# filled by a top-level setup loop over a written-out list.  The loader used to skip every
# top-level loop, so backward raised KeyError: 'sig' and the student got 0/4.
import numpy as np
ACT = {}
for name, f in [('sig', lambda z: 1/(1+np.exp(-z)))]:
    ACT[name] = f

def forward(params, x):
    s = ACT['sig']
    return s(s(x@params['W1']+params['b1'])@params['W2']+params['b2'])

def backward(params, x, y):
    s = ACT['sig']
    a1 = s(x@params['W1']+params['b1']); a2 = s(a1@params['W2']+params['b2'])
    d2 = 2*(a2-y)/len(x)*a2*(1-a2); d1 = d2@params['W2'].T*a1*(1-a1)
    return {'W1': x.T@d1, 'b1': d1.sum(0, keepdims=True), 'W2': a1.T@d2, 'b2': d2.sum(0, keepdims=True)}

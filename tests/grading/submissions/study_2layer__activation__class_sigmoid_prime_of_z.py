"""004 Neural_Network 클래스: sigmoid_prime 을 a * (1 - a) 공식으로 바꿨는데 z 에 적용함.

``sigmoid_prime(z) = z * (1 - z)`` is the activation-form derivative
applied to the pre-activation: both layers' deltas use the wrong factor.
"""
import numpy as np


class Neural_Network(object):
    def __init__(self, input_layer_size, output_layer_size, hidden_layer_size):
        self.input_layer_size = input_layer_size
        self.output_layer_size = output_layer_size
        self.hidden_layer_size = hidden_layer_size
        self.W1 = np.random.randn(self.input_layer_size, self.hidden_layer_size)
        self.W2 = np.random.randn(self.hidden_layer_size, self.output_layer_size)

    def forward(self, X):
        self.z2 = np.dot(X, self.W1)
        self.a2 = self.sigmoid(self.z2)
        self.z3 = np.dot(self.a2, self.W2)
        y_hat = self.sigmoid(self.z3)
        return y_hat

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))

    def sigmoid_prime(self, z):
        # 시그모이드 미분 = s(1 - s) ... 인데 z 를 그대로 넣었다
        return z * (1 - z)

    def cost_function(self, X, y):
        self.y_hat = self.forward(X)
        return 0.5 * np.sum((y - self.y_hat) ** 2)

    def cost_function_prime(self, X, y):
        self.y_hat = self.forward(X)
        delta3 = np.multiply(-(y - self.y_hat), self.sigmoid_prime(self.z3))
        dJdW2 = np.dot(self.a2.T, delta3)
        delta2 = np.dot(delta3, self.W2.T) * self.sigmoid_prime(self.z2)
        dJdW1 = np.dot(X.T, delta2)
        return dJdW1, dJdW2


x = np.array(([3, 5], [5, 1], [10, 2]), dtype=float)
y = np.array(([75], [82], [93]), dtype=float) / 100
NN = Neural_Network(2, 1, 3)
cost1 = NN.cost_function(x, y)
dJdW1, dJdW2 = NN.cost_function_prime(x, y)
print(cost1, dJdW1, dJdW2)

"""The README's arithmetic pictures, from the real window (offscreen works):

    .venv/bin/python docs/screenshots/arithmetic.py docs/images

arithmetic.png: the window with GroupNorm on the sample image, element (0, 2, 1, 1) selected and the
Arithmetic panel on step 3 (the deviation); step-through-frame.png: the step-through's frame for
step 2 (the mean over the statistics group), as Export… in the panel writes it.
"""

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out: str):
    from PySide6.QtWidgets import QApplication

    from explorer.animation import frames
    from explorer.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()

    def settle():
        deadline = time.monotonic() + 60
        while (window.state.computing or window.state.scene is None) and time.monotonic() < deadline:
            app.processEvents()
        for _ in range(20):
            app.processEvents()

    settle()
    window.state.update(method="group", shape=(2, 8, 4, 4), selected=(0, 2, 1, 1), input="image")
    settle()
    window.arithmetic.show_step(2)
    settle()
    window.grab().save(f"{out}/arithmetic.png")
    frames(window.tensor_view, window.state.scene)[1].save(f"{out}/step-through-frame.png")
    window.close()
    window.state.shutdown()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
